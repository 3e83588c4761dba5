package dev.edgekit.demo

import android.Manifest.permission.CAMERA
import android.app.Activity
import android.content.pm.PackageManager
import android.content.res.Configuration
import android.graphics.SurfaceTexture
import android.media.Image
import android.os.Build
import android.os.Bundle
import android.os.Handler
import android.os.HandlerThread
import android.view.TextureView
import android.view.View
import android.widget.AdapterView
import android.widget.ArrayAdapter
import android.widget.CheckBox
import android.widget.Spinner
import android.widget.TextView
import dev.edgekit.core.LatencySmoother
import dev.edgekit.core.ManifestException
import dev.edgekit.demo.backend.BackendException
import dev.edgekit.demo.backend.BackendOptions
import dev.edgekit.demo.backend.Backends
import java.io.IOException
import java.util.Locale

/**
 * Camera preview, top-3 with probabilities, inference time (moving average), end-to-end FPS, the model's name,
 * format and precision, a picker when several artifacts are bundled, and the thread count. Camera callbacks run
 * on the "camera" thread, model loading and classification on the "analysis" thread; the main thread only draws.
 */
class MainActivity : Activity() {
    private lateinit var preview: TextureView
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

    private var cameraThread: HandlerThread? = null
    private var analysisThread: HandlerThread? = null
    private var analysisHandler: Handler? = null
    private var camera: CameraController? = null
    private var permissionAsked = false

    // Touched on the analysis thread only.
    private var classifier: Classifier? = null
    private var loadedKey: String? = null
    private var inferenceMs = LatencySmoother(30)
    private var frameMs = LatencySmoother(30)
    private var lastFrameNs = 0L
    private var frames = 0L

    override fun onCreate(savedInstanceState: Bundle?) {
        super.onCreate(savedInstanceState)
        setContentView(R.layout.activity_main)
        preview = view(R.id.preview)
        message = view(R.id.message)
        modelInfo = view(R.id.model_info)
        predictions = view(R.id.predictions)
        stats = view(R.id.stats)
        modelPicker = view(R.id.model_picker)
        threadsPicker = view(R.id.threads_picker)
        gpu = view(R.id.gpu)
        models = ModelAssets(this)
        names = models.names()

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
            override fun onItemSelected(parent: AdapterView<*>?, view: View?, position: Int, id: Long) = saveAndReload()
            override fun onNothingSelected(parent: AdapterView<*>?) {}
        }
        modelPicker.onItemSelectedListener = reload
        threadsPicker.onItemSelectedListener = reload
        gpu.setOnCheckedChangeListener { _, _ -> saveAndReload() }

        preview.surfaceTextureListener = object : TextureView.SurfaceTextureListener {
            override fun onSurfaceTextureAvailable(surface: SurfaceTexture, width: Int, height: Int) = startCamera()
            override fun onSurfaceTextureSizeChanged(surface: SurfaceTexture, width: Int, height: Int) {
                camera?.configureTransform(width, height)
            }
            override fun onSurfaceTextureDestroyed(surface: SurfaceTexture) = true
            override fun onSurfaceTextureUpdated(surface: SurfaceTexture) {}
        }
    }

    override fun onResume() {
        super.onResume()
        cameraThread = HandlerThread("camera").also { it.start() }
        analysisThread = HandlerThread("analysis").also { it.start() }
        analysisHandler = Handler(analysisThread!!.looper)
        saveAndReload()
        if (checkSelfPermission(CAMERA) != PackageManager.PERMISSION_GRANTED) {
            // Once per activity: the dialog pauses and resumes us, and a refusal must not ask again in a loop.
            if (!permissionAsked) requestPermissions(arrayOf(CAMERA), REQUEST_CAMERA)
            permissionAsked = true
        } else if (preview.isAvailable) {
            startCamera()
        }
    }

    override fun onPause() {
        camera?.close()
        camera = null
        analysisHandler?.post {
            classifier?.close()
            classifier = null
            loadedKey = null
        }
        analysisThread?.quitSafely()
        cameraThread?.quitSafely()
        analysisThread?.join()
        cameraThread?.join()
        analysisThread = null
        cameraThread = null
        analysisHandler = null
        super.onPause()
    }

    override fun onConfigurationChanged(newConfig: Configuration) {
        super.onConfigurationChanged(newConfig)
        camera?.let {
            it.displayRotation = displayRotation()
            it.configureTransform(preview.width, preview.height)
        }
    }

    override fun onRequestPermissionsResult(requestCode: Int, permissions: Array<out String>, grantResults: IntArray) {
        if (requestCode != REQUEST_CAMERA) return
        if (grantResults.firstOrNull() == PackageManager.PERMISSION_GRANTED) startCamera()
        else showMessage(getString(R.string.no_camera_permission))
    }

    private fun startCamera() {
        val cameraLooper = cameraThread?.looper ?: return
        val analysis = analysisHandler ?: return
        if (camera != null || !preview.isAvailable) return
        if (checkSelfPermission(CAMERA) != PackageManager.PERMISSION_GRANTED) return
        val controller = CameraController(this, preview, Handler(cameraLooper), analysis,
            onFrame = { image, degrees -> onFrame(image, degrees) },
            onError = { error -> showMessage(error) })
        controller.displayRotation = displayRotation()
        camera = controller
        controller.open()
        controller.configureTransform(preview.width, preview.height)
    }

    /** findViewById, typed (the generic form is API 26; this compiles against API 23 and 36 alike). */
    @Suppress("UNCHECKED_CAST")
    private fun <T : View> view(id: Int): T = findViewById(id) as T

    @Suppress("DEPRECATION") // Activity.display is API 30; minSdk is 24
    private fun displayRotation(): Int = windowManager.defaultDisplay.rotation

    /** Persist the settings and (re)load the chosen artifact with them, off the main thread. */
    private fun saveAndReload() {
        val name = names.getOrNull(modelPicker.selectedItemPosition) ?: return
        val threads = threadChoices.getOrElse(threadsPicker.selectedItemPosition) { 1 }
        val useGpu = gpu.isChecked   // read by the LiteRT backend only (the box is shown for .tflite artifacts)
        getSharedPreferences(PREFS, MODE_PRIVATE).edit()
            .putString(KEY_MODEL, name).putInt(KEY_THREADS, threads).putBoolean(KEY_GPU, gpu.isChecked).apply()
        val handler = analysisHandler ?: return
        handler.post { load(name, BackendOptions(threads, useGpu)) }
    }

    /** Analysis thread. */
    private fun load(name: String, options: BackendOptions) {
        val key = "$name/${options.threads}/${options.useGpu}"
        if (key == loadedKey) return
        classifier?.close()
        classifier = null
        loadedKey = key
        inferenceMs = LatencySmoother(30)
        frameMs = LatencySmoother(30)
        lastFrameNs = 0L
        frames = 0L
        try {
            val model = models.load(name)
            val backend = Backends.create(model.manifest, model.modelFile, options)
            classifier = Classifier(model, backend)
            val m = model.manifest
            val info = listOfNotNull(m.model, m.format, m.precision,
                listOfNotNull(backend.runtime, backend.runtimeVersion).joinToString(" "),
                backend.delegate, "${options.threads} thread(s)").joinToString(" · ")
            val tflite = m.format == "tflite"
            runOnUiThread {
                message.visibility = View.GONE
                modelInfo.text = info
                predictions.text = getString(R.string.waiting)
                stats.text = ""
                gpu.visibility = if (tflite) View.VISIBLE else View.GONE
            }
        } catch (e: ManifestException) {
            loadFailed(name, "this manifest cannot be honoured: ${e.message}")
        } catch (e: BackendException) {
            loadFailed(name, e.message ?: "the backend failed")
        } catch (e: IOException) {
            loadFailed(name, "cannot read the bundled files: ${e.message}")
        } catch (e: LinkageError) {
            loadFailed(name, "the runtime's native library does not load on this device " +
                "(${Build.SUPPORTED_ABIS.joinToString()}): ${e.message}")
        } catch (e: RuntimeException) {
            loadFailed(name, "${e.javaClass.simpleName}: ${e.message}")
        }
    }

    private fun loadFailed(name: String, why: String) {
        runOnUiThread {
            modelInfo.text = name
            predictions.text = ""
            stats.text = ""
        }
        showMessage("$name: $why")
    }

    /** Analysis thread: one frame (the latest), classified; the UI gets the text. */
    private fun onFrame(image: Image, rotationDegrees: Int) {
        val c = classifier ?: return
        val result = try {
            c.classify(image, rotationDegrees)
        } catch (e: Exception) {
            classifier = null
            c.close()
            showMessage("${c.model.name}: ${e.message ?: e.javaClass.simpleName}")
            return
        }
        val now = System.nanoTime()
        if (lastFrameNs != 0L) frameMs.add((now - lastFrameNs) / 1e6)
        lastFrameNs = now
        frames++
        inferenceMs.add(result.inferenceMs)
        val top = result.top.joinToString("\n") {
            String.format(Locale.US, "%-22s %5.1f %%", it.label.take(22), it.probability * 100f)
        }
        val fps = if (frames > 1) 1000.0 / frameMs.mean else 0.0
        val line = String.format(Locale.US, "inference %.1f ms (mean of last %d) · preprocess %.1f ms · %.1f FPS",
            inferenceMs.mean, minOf(frames, 30L), result.preprocessMs, fps)
        runOnUiThread {
            predictions.text = top
            stats.text = line
        }
    }

    private fun showMessage(text: String) = runOnUiThread {
        message.text = text
        message.visibility = View.VISIBLE
    }

    companion object {
        private const val REQUEST_CAMERA = 1
        private const val PREFS = "settings"
        private const val KEY_MODEL = "model"
        private const val KEY_THREADS = "threads"
        private const val KEY_GPU = "gpu"
    }
}
