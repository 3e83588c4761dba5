package dev.edgekit.demo

import android.Manifest.permission.CAMERA
import android.app.Activity
import android.content.ActivityNotFoundException
import android.content.Intent
import android.content.pm.PackageManager
import android.content.Context
import android.content.res.Configuration
import android.hardware.display.DisplayManager
import android.graphics.SurfaceTexture
import android.media.Image
import android.os.Build
import android.net.Uri
import android.os.Bundle
import android.os.Handler
import android.os.HandlerThread
import android.provider.Settings
import android.util.Log
import android.view.TextureView
import android.view.View
import android.widget.AdapterView
import android.widget.ArrayAdapter
import android.widget.CheckBox
import android.widget.Spinner
import android.widget.TextView
import dev.edgekit.core.LatencySmoother
import dev.edgekit.core.ManifestException
import dev.edgekit.core.ModelSlot
import dev.edgekit.demo.backend.BackendException
import dev.edgekit.demo.backend.BackendOptions
import dev.edgekit.demo.backend.Backends
import java.io.IOException
import java.util.Locale

/**
 * Camera preview, top-3 with probabilities (a classifier) or labelled boxes with scores over the preview (a
 * detector: the manifest's task decides), inference time (moving average), end-to-end FPS, the model's name,
 * format and precision, a picker when several artifacts are bundled, and the thread count; the part of the frame
 * a classifier sees is outlined over the preview. Camera callbacks run on the "camera" thread, model loading and
 * classification on the "analysis" thread; the main thread only draws and never waits for either.
 *
 * Lifecycle: the threads live from onCreate to onDestroy (quit there without joining). The camera is core's
 * CameraLifecycle state machine (CameraController): onPause stops it, onResume starts it. The model is core's
 * ModelSlot: loaded once on the analysis thread and kept across pause/resume (a resume during a load waits for
 * that load), replaced when the picker, threads or GPU box change, and closed on the analysis thread after the last
 * frame when onDestroy disposes it.
 */
class MainActivity : Activity() {
    private lateinit var preview: TextureView
    private lateinit var overlay: CropOverlay
    private lateinit var boxes: BoxOverlay
    private lateinit var message: TextView
    private lateinit var modelInfo: TextView
    private lateinit var predictions: TextView
    private lateinit var stats: TextView
    private lateinit var modelPicker: Spinner
    private lateinit var threadsPicker: Spinner
    private lateinit var gpu: CheckBox
    private lateinit var models: ModelAssets
    private var names: List<String> = emptyList()
    private lateinit var threadChoices: List<Int>

    private lateinit var cameraThread: HandlerThread
    private lateinit var analysisThread: HandlerThread
    private lateinit var analysisHandler: Handler
    private lateinit var camera: CameraController
    private lateinit var slot: ModelSlot<LoadKey, FrameModel>
    private var resumed = false
    private var permissionAsked = false
    private var permissionMessage = false   // the message shown is the camera permission's
    @Volatile private var region: dev.edgekit.core.Region? = null

    // Touched on the analysis thread only.
    private var statsFor: FrameModel? = null
    private var inferenceMs = LatencySmoother(30)
    private var postprocessMs = LatencySmoother(30)
    private var frameMs = LatencySmoother(30)
    private var lastFrameNs = 0L
    private var frames = 0L

    /** What a loaded model depends on: the artifact and the backend options. */
    data class LoadKey(val name: String, val options: BackendOptions)

    private val displayListener = object : DisplayManager.DisplayListener {
        override fun onDisplayAdded(displayId: Int) {}
        override fun onDisplayRemoved(displayId: Int) {}
        // A 180 degree turn changes no configuration, so onConfigurationChanged never hears of it: this does.
        override fun onDisplayChanged(displayId: Int) = updateRotation()
    }

    override fun onCreate(savedInstanceState: Bundle?) {
        super.onCreate(savedInstanceState)
        setContentView(R.layout.activity_main)
        preview = view(R.id.preview)
        overlay = view(R.id.crop)
        boxes = view(R.id.boxes)
        message = view(R.id.message)
        modelInfo = view(R.id.model_info)
        predictions = view(R.id.predictions)
        stats = view(R.id.stats)
        modelPicker = view(R.id.model_picker)
        threadsPicker = view(R.id.threads_picker)
        gpu = view(R.id.gpu)
        models = ModelAssets(this)
        names = models.names()

        cameraThread = HandlerThread("camera").also { it.start() }
        analysisThread = HandlerThread("analysis").also { it.start() }
        analysisHandler = Handler(analysisThread.looper)
        camera = CameraController(this, preview, Handler(cameraThread.looper), analysisHandler,
            onFrame = { image, degrees -> onFrame(image, degrees) },
            onError = { error -> showMessage(error) })
        slot = ModelSlot({ r: Runnable -> analysisHandler.post(r) }, { key: LoadKey -> load(key) },
            object : ModelSlot.Listener<LoadKey, FrameModel> {
                override fun loaded(key: LoadKey, model: FrameModel) = loadedUi(model, key.options)
                override fun failed(key: LoadKey, error: Exception) = loadFailed(key.name, describe(error))
                override fun closeFailed(model: FrameModel, error: Exception) {
                    Log.w(TAG, "closing ${model.model.name} failed: ${error.message}", error)
                }
            })

        val prefs = getSharedPreferences(PREFS, MODE_PRIVATE)
        val cores = Runtime.getRuntime().availableProcessors()
        threadChoices = (listOf(1, 2, 4, 8).filter { it <= cores } + cores).distinct().sorted()
        threadsPicker.adapter = ArrayAdapter(this, android.R.layout.simple_spinner_dropdown_item, threadChoices)
        val threads = prefs.getInt(KEY_THREADS, minOf(4, cores))
        threadsPicker.setSelection(threadChoices.indexOf(threads).coerceAtLeast(0))
        gpu.isChecked = prefs.getBoolean(KEY_GPU, false)
        gpu.visibility = View.GONE

        modelPicker.adapter = ArrayAdapter(this, android.R.layout.simple_spinner_dropdown_item, names)
        val picked = names.indexOf(prefs.getString(KEY_MODEL, null))
        if (picked >= 0) modelPicker.setSelection(picked)
        val several = if (names.size > 1) View.VISIBLE else View.GONE
        modelPicker.visibility = several
        view<View>(R.id.model_label).visibility = several
        if (names.isEmpty()) showMessage(getString(R.string.no_models))

        val reload = object : AdapterView.OnItemSelectedListener {
            override fun onItemSelected(parent: AdapterView<*>?, view: View?, position: Int, id: Long) = saveAndRequest()
            override fun onNothingSelected(parent: AdapterView<*>?) {}
        }
        modelPicker.onItemSelectedListener = reload
        threadsPicker.onItemSelectedListener = reload
        gpu.setOnCheckedChangeListener { _, _ -> saveAndRequest() }

        preview.surfaceTextureListener = object : TextureView.SurfaceTextureListener {
            override fun onSurfaceTextureAvailable(surface: SurfaceTexture, width: Int, height: Int) = startCamera()
            override fun onSurfaceTextureSizeChanged(surface: SurfaceTexture, width: Int, height: Int) = updateTransform()
            override fun onSurfaceTextureDestroyed(surface: SurfaceTexture): Boolean {
                camera.stop()   // the preview surface is gone: nothing may still draw into it
                return true
            }
            override fun onSurfaceTextureUpdated(surface: SurfaceTexture) {}
        }
    }

    override fun onResume() {
        super.onResume()
        resumed = true
        (getSystemService(Context.DISPLAY_SERVICE) as DisplayManager).registerDisplayListener(displayListener, null)
        saveAndRequest()   // the model loaded before the pause is kept: this only loads when nothing is
        if (checkSelfPermission(CAMERA) != PackageManager.PERMISSION_GRANTED) {
            // Once per activity: the dialog pauses and resumes us, and a refusal must not ask again in a loop.
            if (!permissionAsked) requestPermissions(arrayOf(CAMERA), REQUEST_CAMERA)
            permissionAsked = true
        } else {
            if (permissionMessage) {   // granted in Settings (or the dialog) since the message was shown
                permissionMessage = false
                message.visibility = View.GONE
            }
            startCamera()
        }
    }

    override fun onPause() {
        resumed = false
        (getSystemService(Context.DISPLAY_SERVICE) as DisplayManager).unregisterDisplayListener(displayListener)
        camera.stop()      // returns at once: the state machine closes what is open and what opens later
        super.onPause()
    }

    override fun onDestroy() {
        camera.stop()
        // The model is closed on the analysis thread, after the frame it may be classifying now (closing it here,
        // on the main thread, would free native memory under a running inference); quitSafely runs that close
        // before the thread ends. A load still running closes its model when it finishes.
        slot.dispose()
        analysisThread.quitSafely()
        cameraThread.quitSafely()
        super.onDestroy()
    }

    override fun onConfigurationChanged(newConfig: Configuration) {
        super.onConfigurationChanged(newConfig)
        updateRotation()
    }

    override fun onRequestPermissionsResult(requestCode: Int, permissions: Array<out String>, grantResults: IntArray) {
        if (requestCode != REQUEST_CAMERA) return
        if (grantResults.firstOrNull() == PackageManager.PERMISSION_GRANTED) {
            startCamera()
        } else if (!shouldShowRequestPermissionRationale(CAMERA)) {
            // "Don't ask again" (or a second refusal, Android 11+): the dialog will not come back, only the app's
            // page in Settings can grant the camera now, so the message opens it.
            showMessage(getString(R.string.camera_permission_in_settings)) { openAppSettings() }
            permissionMessage = true
        } else {
            showMessage(getString(R.string.no_camera_permission))
            permissionMessage = true
        }
    }

    /** The app's page in Settings (Permissions is one tap from there). */
    private fun openAppSettings() {
        try {
            startActivity(Intent(Settings.ACTION_APPLICATION_DETAILS_SETTINGS, Uri.fromParts("package", packageName, null)))
        } catch (e: ActivityNotFoundException) {
            showMessage(getString(R.string.no_camera_permission))
        }
    }

    private fun startCamera() {
        if (!resumed || !preview.isAvailable) return
        if (checkSelfPermission(CAMERA) != PackageManager.PERMISSION_GRANTED) return
        camera.displayRotation = displayRotation()
        camera.start()
        updateTransform()
    }

    private fun updateRotation() {
        val rotation = displayRotation()
        if (rotation == camera.displayRotation) return
        camera.displayRotation = rotation    // the next frame is turned with it
        updateTransform()
    }

    /** Main thread: the preview's transform and the model's crop drawn over it. */
    private fun updateTransform() {
        camera.configureTransform(preview.width, preview.height)
        val t = camera.previewTransform(preview.width, preview.height)
        val r = region
        if (t == null || r == null) {
            overlay.hide()
            return
        }
        val rect = t.viewRect(r)
        overlay.show(rect[0].toFloat(), rect[1].toFloat(), rect[2].toFloat(), rect[3].toFloat())
    }

    /** findViewById, typed (the generic form is API 26; this compiles against API 23 and 36 alike). */
    @Suppress("UNCHECKED_CAST")
    private fun <T : View> view(id: Int): T = findViewById(id) as T

    @Suppress("DEPRECATION") // Activity.display is API 30; minSdk is 24
    private fun displayRotation(): Int = windowManager.defaultDisplay.rotation

    /** Persist the settings and ask for the chosen artifact with them (loaded off the main thread, once). */
    private fun saveAndRequest() {
        val name = names.getOrNull(modelPicker.selectedItemPosition) ?: return
        val threads = threadChoices.getOrElse(threadsPicker.selectedItemPosition) { 1 }
        val useGpu = gpu.isChecked   // read by the LiteRT backend only (the box is shown for .tflite artifacts)
        getSharedPreferences(PREFS, MODE_PRIVATE).edit()
            .putString(KEY_MODEL, name).putInt(KEY_THREADS, threads).putBoolean(KEY_GPU, useGpu).apply()
        // the live view: no intra-op spinning between frames (battery); the benchmark turns it on
        slot.request(LoadKey(name, BackendOptions(threads, useGpu, spinning = false)))
    }

    /** Analysis thread (the slot's loader): a Detector or a Classifier, as the manifest's task says. Throws what
     *  the UI reports. */
    private fun load(key: LoadKey): FrameModel {
        val model = models.load(key.name)
        val backend = try {
            Backends.create(model.manifest, model.modelFile, key.options)
        } catch (e: LinkageError) {   // an Error, not an Exception: reported like one instead of ending the process
            throw BackendException("the runtime's native library does not load on this device " +
                "(${Build.SUPPORTED_ABIS.joinToString()}): ${e.message}", e)
        }
        return try {
            if (model.manifest.isDetector) Detector(model, backend) else Classifier(model, backend)
        } catch (e: Exception) {
            backend.close()
            throw e
        }
    }

    private fun loadedUi(c: FrameModel, options: BackendOptions) {
        val m = c.model.manifest
        val info = listOfNotNull(m.model, m.format, m.precision,
            listOfNotNull(c.backend.runtime, c.backend.runtimeVersion).joinToString(" "),
            c.backend.delegate, "${options.threads} thread(s)").joinToString(" · ")
        val tflite = m.format == "tflite"
        runOnUiThread {
            message.visibility = View.GONE
            modelInfo.text = info
            predictions.text = getString(R.string.waiting)
            stats.text = ""
            gpu.visibility = if (tflite) View.VISIBLE else View.GONE
            if (c !is Detector) boxes.hide()
        }
    }

    private fun describe(e: Exception): String = when (e) {
        is ManifestException -> "this manifest cannot be honoured: ${e.message}"
        is ModelFileChangedException -> e.message ?: "the model file changed after it was exported"
        is BackendException -> e.message ?: "the backend failed"
        is IOException -> "cannot read the bundled files: ${e.message}"
        else -> "${e.javaClass.simpleName}: ${e.message}"
    }

    private fun loadFailed(name: String, why: String) {
        runOnUiThread {
            boxes.hide()
            modelInfo.text = name
            predictions.text = ""
            stats.text = ""
        }
        showMessage("$name: $why")
    }

    /** Analysis thread: one frame (the latest), classified; the UI gets the text. */
    private fun onFrame(image: Image, rotationDegrees: Int) {
        val c = slot.current() ?: return
        if (c !== statsFor) {   // a new model: fresh averages
            statsFor = c
            inferenceMs = LatencySmoother(30)
            postprocessMs = LatencySmoother(30)
            frameMs = LatencySmoother(30)
            lastFrameNs = 0L
            frames = 0L
        }
        val result = try {
            when (c) {
                is Detector -> c.detect(image, rotationDegrees)
                is Classifier -> c.classify(image, rotationDegrees)
                else -> return
            }
        } catch (e: Exception) {
            slot.drop(c)
            showMessage("${c.model.name}: ${e.message ?: e.javaClass.simpleName}")
            return
        } catch (e: LinkageError) {
            slot.drop(c)
            showMessage("${c.model.name}: the runtime's native library does not load on this device " +
                "(${Build.SUPPORTED_ABIS.joinToString()}): ${e.message}")
            return
        }
        val now = System.nanoTime()
        if (lastFrameNs != 0L) frameMs.add((now - lastFrameNs) / 1e6)
        lastFrameNs = now
        frames++
        val fps = if (frames > 1) 1000.0 / frameMs.mean else 0.0
        if (result is DetectionFrame) {
            showDetections(result, fps)
            return
        }
        result as FrameResult
        inferenceMs.add(result.inferenceMs)
        val top = result.top.joinToString("\n") {
            String.format(Locale.US, "%-22s %5.1f %%", it.label.take(22), it.probability * 100f)
        }
        val line = String.format(Locale.US, "inference %.1f ms (mean of last %d) · preprocess %.1f ms · %.1f FPS",
            inferenceMs.mean, minOf(frames, 30L), result.preprocessMs, fps)
        val newRegion = c.modelRegion()
        val regionChanged = newRegion != region
        region = newRegion
        runOnUiThread {
            predictions.text = top
            stats.text = line
            if (regionChanged) updateTransform()
        }
    }

    /** Analysis thread: a detector's frame; the boxes are drawn over the preview, the numbers below it. */
    private fun showDetections(d: DetectionFrame, fps: Double) {
        inferenceMs.add(d.inferenceMs)
        postprocessMs.add(d.postprocessMs)
        val summary = String.format(Locale.US, "%d box(es) with score ≥ %.0f %% drawn (%d kept by NMS)",
            d.count, Detector.MIN_SHOWN_SCORE * 100f, d.kept) +
            (0 until minOf(d.count, 2)).joinToString("") { String.format(Locale.US, "\n%-22s %5.1f %%", d.names[it].take(22), d.scores[it] * 100f) }
        val line = String.format(Locale.US, "inference %.1f ms · NMS %.2f ms (means of last %d) · preprocess %.1f ms · %.1f FPS",
            inferenceMs.mean, postprocessMs.mean, minOf(frames, 30L), d.preprocessMs, fps)
        val regionChanged = region != null
        region = null
        runOnUiThread {
            predictions.text = summary
            stats.text = line
            if (regionChanged) updateTransform()
            boxes.show(d, camera.previewTransform(preview.width, preview.height), camera.frontFacing)
        }
    }

    /** One line over the preview; `onTap` makes it a button (the permission's way to Settings), else it is text. */
    private fun showMessage(text: String, onTap: (() -> Unit)? = null) = runOnUiThread {
        message.text = text
        if (onTap == null) {
            message.setOnClickListener(null)
            message.isClickable = false
        } else {
            message.setOnClickListener { onTap() }
        }
        message.visibility = View.VISIBLE
    }

    companion object {
        private const val TAG = "edgekit"
        private const val REQUEST_CAMERA = 1
        private const val PREFS = "settings"
        private const val KEY_MODEL = "model"
        private const val KEY_THREADS = "threads"
        private const val KEY_GPU = "gpu"
    }
}
