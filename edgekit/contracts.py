"""Every file edgekit writes for another stage or for the app, with its schema version, in one place.

docs/contracts.md documents each one field by field (or points to the page that does). A reader refuses a file
whose `schema` is another version; a breaking change bumps the number here and in that document.

    file                                   schema constant     written by                 read by
    OUT/<model>/<fmt>-<prec>/manifest.json MANIFEST            export (edgekit.manifest)  artifacts, bench, eval, report, android, the app
    OUT/<model>/<fmt>-<prec>/labels.txt    (the manifest's)    export                     edgekit.manifest, the app
    OUT/<model>/summary.json               SUMMARY             export (export/summary)    report
    OUT/<model>/bench.json, bench.csv      BENCH               bench (bench/results)      bench --compare, report; the app's rows
    OUT/<model>/profile.json               PROFILE             profile (edgekit/profile)  report
    RUN/best.pt, last.pt, qat.pt           CHECKPOINT          train, quantize --qat      eval, quantize, export, bench
    RUN/config.json                        RUN_CONFIG          train (rundir)             eval, quantize, export (rundir)
    PREPARED/prepare.json (+ split lists)  PREPARED            data prepare               train, eval, export (data/folder)
    PREPARED/prepare.json (+ COCO splits)  PREPARED_DETECTION  data prepare (detection)   data/detection, train, eval
    AUDIT/audit.json of a detection folder DETECTION_AUDIT     data audit (detection)     people, scripts
    eval-*/eval.json                       EVAL                eval                       people, scripts
    eval-*/eval.json of a detector         DETECTION_EVAL      eval (detection_eval)      people, scripts
    RUN/sensitivity.json                   SENSITIVITY         quantize --sensitivity     people, scripts
    fixtures/index.json                    ANDROID_FIXTURES    android fixtures           android_demo/core JUnit tests
    app assets/models/<name>/              APP_ASSETS          android sync               the app (ModelAssets)
"""
from __future__ import annotations

MANIFEST = "edgekit-manifest/1"
SUMMARY = "edgekit-summary/1"
BENCH = "edgekit-bench/1"
PROFILE = "edgekit-profile/1"
CHECKPOINT = "edgekit-checkpoint/1"
RUN_CONFIG = "edgekit-run/1"
PREPARED = "edgekit-prepared/1"
PREPARED_DETECTION = "edgekit-prepared-detection/1"
DETECTION_AUDIT = "edgekit-detection-audit/1"
EVAL = "edgekit-eval/1"
DETECTION_EVAL = "edgekit-detection-eval/1"
SENSITIVITY = "edgekit-sensitivity/1"
ANDROID_FIXTURES = "edgekit-android-fixtures/1"
APP_ASSETS = "edgekit-app-assets/1"
