package dev.edgekit.demo

import android.Manifest
import android.content.Context
import android.content.pm.PackageManager
import android.graphics.ImageFormat
import android.graphics.Matrix
import android.graphics.SurfaceTexture
import android.hardware.camera2.CameraCaptureSession
import android.hardware.camera2.CameraCharacteristics
import android.hardware.camera2.CameraDevice
import android.hardware.camera2.CameraManager
import android.hardware.camera2.CaptureRequest
import android.media.Image
import android.media.ImageReader
import android.os.Handler
import android.util.Size
import android.view.Surface
import android.view.TextureView
import dev.edgekit.core.CameraGeometry
import dev.edgekit.core.CameraLifecycle
import dev.edgekit.core.CameraPort
import dev.edgekit.core.PreviewTransform

/**
 * The platform camera2 API behind core's [CameraLifecycle] (the open/configure/close state machine the JVM tests
 * drive through the bad orderings): this class only makes the camera2 calls the machine asks for and hands the
 * callbacks back to it, tagged with the generation they belong to. A repeating preview request goes into the
 * TextureView and an ImageReader of YUV_420_888 frames; frames are delivered on [analysisHandler] and only the
 * latest one is kept (`acquireLatestImage`). [start] and [stop] may be called from any thread and never block
 * on the camera.
 */
class CameraController(
    context: Context,
    private val textureView: TextureView,
    private val cameraHandler: Handler,
    private val analysisHandler: Handler,
    private val onFrame: (Image, Int) -> Unit,
    onError: (String) -> Unit,
) {
    private class Chosen(val id: String, val sensorOrientation: Int, val frontFacing: Boolean, val analysis: Size, val preview: Size)

    private val appContext: Context = context.applicationContext
    private val manager = context.getSystemService(Context.CAMERA_SERVICE) as CameraManager
    @Volatile private var chosen: Chosen? = null
    // Touched only inside the lifecycle's port calls (under its lock).
    private var reader: ImageReader? = null
    private var previewSurface: Surface? = null

    private val lifecycle = CameraLifecycle(Camera2Port(), onError)

    /** Surface.ROTATION_* of the display, kept current by the activity (a display listener: 180° turns too). */
    @Volatile var displayRotation: Int = Surface.ROTATION_0

    /** The clockwise rotation that turns a sensor frame upright on the current display. */
    val frameRotationDegrees: Int
        get() {
            val c = chosen ?: return 0
            return CameraGeometry.frameRotation(c.sensorOrientation, displayDegrees(displayRotation), c.frontFacing)
        }

    val state: CameraLifecycle.State get() = lifecycle.current

    /** Whether the chosen camera faces the user (its preview is a mirror image; the frames are not). */
    val frontFacing: Boolean get() = chosen?.frontFacing ?: false

    fun start() = lifecycle.start()

    fun stop() = lifecycle.stop()

    /** The preview's transform for a view of this size, or null before a camera was chosen. */
    fun previewTransform(viewWidth: Int, viewHeight: Int): PreviewTransform? {
        val c = chosen ?: return null
        if (viewWidth <= 0 || viewHeight <= 0) return null
        return CameraGeometry.previewTransform(viewWidth, viewHeight, c.preview.width, c.preview.height,
            c.sensorOrientation, displayDegrees(displayRotation))
    }

    /** Main thread: show the preview upright, undistorted and filling the view (for any sensor and display rotation). */
    fun configureTransform(viewWidth: Int, viewHeight: Int) {
        val t = previewTransform(viewWidth, viewHeight) ?: return
        val cx = viewWidth / 2f
        val cy = viewHeight / 2f
        val matrix = Matrix()
        matrix.setScale(t.stretchX.toFloat(), t.stretchY.toFloat(), cx, cy)
        matrix.postRotate(t.rotate.toFloat(), cx, cy)
        matrix.postScale(t.fill.toFloat(), t.fill.toFloat(), cx, cy)
        textureView.setTransform(matrix)
    }

    private inner class Camera2Port : CameraPort<CameraDevice, CameraCaptureSession> {
        override fun open(generation: Int) {
            val c = choose()
            chosen = c
            val r = ImageReader.newInstance(c.analysis.width, c.analysis.height, ImageFormat.YUV_420_888, 2)
            r.setOnImageAvailableListener({ source ->
                val image = try {
                    source.acquireLatestImage()
                } catch (e: IllegalStateException) {
                    null // the reader was closed while this callback was queued
                } ?: return@setOnImageAvailableListener
                try {
                    onFrame(image, frameRotationDegrees)
                } finally {
                    image.close()
                }
            }, analysisHandler)
            reader = r
            // The activity asks for the permission before it starts the camera, but it can be revoked from
            // Settings at any time; checked here, beside the call, so Android lint's MissingPermission sees it.
            // The SecurityException becomes the lifecycle's FAILED state with one line on screen.
            if (appContext.checkSelfPermission(Manifest.permission.CAMERA) != PackageManager.PERMISSION_GRANTED) {
                throw SecurityException("the camera permission is not granted")
            }
            manager.openCamera(c.id, object : CameraDevice.StateCallback() {
                override fun onOpened(camera: CameraDevice) = lifecycle.onOpened(generation, camera)
                override fun onDisconnected(camera: CameraDevice) = lifecycle.onDeviceLost(generation, camera, null)
                override fun onError(camera: CameraDevice, error: Int) = lifecycle.onDeviceLost(generation, camera, error)
            }, cameraHandler)
        }

        @Suppress("DEPRECATION") // createCaptureSession(List, ...) is the API 24 form
        override fun createSession(device: CameraDevice, generation: Int) {
            val c = chosen ?: throw IllegalStateException("no camera chosen")
            val r = reader ?: throw IllegalStateException("the frame reader is closed")
            val texture = textureView.surfaceTexture ?: throw IllegalStateException("the preview surface is not ready")
            texture.setDefaultBufferSize(c.preview.width, c.preview.height)
            val surface = Surface(texture)
            previewSurface = surface
            device.createCaptureSession(listOf(surface, r.surface), object : CameraCaptureSession.StateCallback() {
                override fun onConfigured(session: CameraCaptureSession) = lifecycle.onConfigured(generation, session)
                override fun onConfigureFailed(session: CameraCaptureSession) = lifecycle.onConfigureFailed(generation, session)
            }, cameraHandler)
        }

        override fun startRepeating(device: CameraDevice, session: CameraCaptureSession) {
            val surface = previewSurface ?: throw IllegalStateException("no preview surface")
            val r = reader ?: throw IllegalStateException("the frame reader is closed")
            val request = device.createCaptureRequest(CameraDevice.TEMPLATE_PREVIEW).apply {
                addTarget(surface)
                addTarget(r.surface)
                set(CaptureRequest.CONTROL_AF_MODE, CaptureRequest.CONTROL_AF_MODE_CONTINUOUS_PICTURE)
            }.build()
            session.setRepeatingRequest(request, null, cameraHandler)
        }

        override fun closeSession(session: CameraCaptureSession) = session.close()

        override fun closeDevice(device: CameraDevice) = device.close()

        /** The reader is closed on the analysis thread, after the frame it may be reading. */
        override fun release(generation: Int) {
            previewSurface?.release()
            previewSurface = null
            val r = reader ?: return
            reader = null
            analysisHandler.post { r.close() }
        }
    }

    private fun choose(): Chosen {
        val ids = manager.cameraIdList
        if (ids.isEmpty()) throw IllegalStateException("this device reports no camera")
        val id = ids.firstOrNull {
            manager.getCameraCharacteristics(it).get(CameraCharacteristics.LENS_FACING) == CameraCharacteristics.LENS_FACING_BACK
        } ?: ids[0]
        val chars = manager.getCameraCharacteristics(id)
        val map = chars.get(CameraCharacteristics.SCALER_STREAM_CONFIGURATION_MAP)
            ?: throw IllegalStateException("camera $id reports no stream configurations")
        val yuvSizes = map.getOutputSizes(ImageFormat.YUV_420_888)
        if (yuvSizes.isNullOrEmpty()) throw IllegalStateException("camera $id cannot deliver YUV_420_888 frames")
        val analysis = chooseSize(yuvSizes.toList(), 640 * 480, null)
        // the preview keeps the analysis frames' aspect ratio, so the crop drawn over it is where the model looks
        val preview = chooseSize(map.getOutputSizes(SurfaceTexture::class.java).toList(), 1280 * 720, analysis)
        return Chosen(id, chars.get(CameraCharacteristics.SENSOR_ORIENTATION) ?: 90,
            chars.get(CameraCharacteristics.LENS_FACING) == CameraCharacteristics.LENS_FACING_FRONT, analysis, preview)
    }

    private fun chooseSize(sizes: List<Size>, targetArea: Int, aspectOf: Size?): Size {
        val matching = if (aspectOf == null) sizes
        else sizes.filter { it.width.toLong() * aspectOf.height == it.height.toLong() * aspectOf.width }
        val sameAspect = if (matching.isEmpty()) sizes else matching
        val bigEnough = sameAspect.filter { it.width * it.height >= targetArea }
        return bigEnough.minByOrNull { it.width * it.height } ?: sameAspect.maxByOrNull { it.width * it.height }!!
    }

    companion object {
        fun displayDegrees(surfaceRotation: Int): Int = when (surfaceRotation) {
            Surface.ROTATION_90 -> 90
            Surface.ROTATION_180 -> 180
            Surface.ROTATION_270 -> 270
            else -> 0
        }
    }
}
