package dev.edgekit.demo

import android.content.Context
import android.graphics.ImageFormat
import android.graphics.Matrix
import android.graphics.RectF
import android.graphics.SurfaceTexture
import android.hardware.camera2.CameraAccessException
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

/**
 * The platform camera2 API, nothing else: a repeating preview request into the TextureView and an ImageReader
 * of YUV_420_888 frames. Camera callbacks run on [cameraHandler]; frames are delivered on [analysisHandler]
 * (never the main thread) and only the latest one is kept: `acquireLatestImage` drops the frames that arrived
 * while the previous one was being classified.
 */
class CameraController(
    private val context: Context,
    private val textureView: TextureView,
    private val cameraHandler: Handler,
    private val analysisHandler: Handler,
    private val onFrame: (Image, Int) -> Unit,
    private val onError: (String) -> Unit,
) {
    private var device: CameraDevice? = null
    private var session: CameraCaptureSession? = null
    private var reader: ImageReader? = null
    private var previewSize: Size? = null
    private var sensorOrientation = 90
    private var frontFacing = false

    /** Surface.ROTATION_* of the display, kept current by the activity. */
    @Volatile var displayRotation: Int = Surface.ROTATION_0

    /** The clockwise rotation that turns a sensor frame upright on the current display. */
    val frameRotationDegrees: Int
        get() = CameraRotation.degrees(sensorOrientation, CameraRotation.displayDegrees(displayRotation), frontFacing)

    fun open() {
        val manager = context.getSystemService(Context.CAMERA_SERVICE) as CameraManager
        try {
            val ids = manager.cameraIdList
            if (ids.isEmpty()) return onError("this device reports no camera")
            val id = ids.firstOrNull {
                manager.getCameraCharacteristics(it).get(CameraCharacteristics.LENS_FACING) ==
                    CameraCharacteristics.LENS_FACING_BACK
            } ?: ids[0]
            val chars = manager.getCameraCharacteristics(id)
            sensorOrientation = chars.get(CameraCharacteristics.SENSOR_ORIENTATION) ?: 90
            frontFacing = chars.get(CameraCharacteristics.LENS_FACING) == CameraCharacteristics.LENS_FACING_FRONT
            val map = chars.get(CameraCharacteristics.SCALER_STREAM_CONFIGURATION_MAP)
                ?: return onError("camera $id reports no stream configurations")
            val yuvSizes = map.getOutputSizes(ImageFormat.YUV_420_888)
            if (yuvSizes.isNullOrEmpty()) return onError("camera $id cannot deliver YUV_420_888 frames")
            val analysis = chooseSize(yuvSizes.toList(), 640 * 480, null)
            val preview = chooseSize(map.getOutputSizes(SurfaceTexture::class.java).toList(), 1280 * 720, analysis)
            previewSize = preview
            val imageReader = ImageReader.newInstance(analysis.width, analysis.height, ImageFormat.YUV_420_888, 2)
            imageReader.setOnImageAvailableListener({ r ->
                val image = try {
                    r.acquireLatestImage()
                } catch (e: IllegalStateException) {
                    null // the reader was closed while this callback was queued
                } ?: return@setOnImageAvailableListener
                try {
                    onFrame(image, frameRotationDegrees)
                } finally {
                    image.close()
                }
            }, analysisHandler)
            reader = imageReader
            manager.openCamera(id, object : CameraDevice.StateCallback() {
                override fun onOpened(camera: CameraDevice) {
                    device = camera
                    startSession(camera, imageReader, preview)
                }

                override fun onDisconnected(camera: CameraDevice) {
                    camera.close()
                    device = null
                }

                override fun onError(camera: CameraDevice, error: Int) {
                    camera.close()
                    device = null
                    onError("the camera stopped with error $error")
                }
            }, cameraHandler)
        } catch (e: CameraAccessException) {
            onError("cannot open the camera: ${e.message}")
        } catch (e: SecurityException) {
            onError("the camera permission is missing")
        }
    }

    @Suppress("DEPRECATION") // createCaptureSession(List, ...) is the API 24 form
    private fun startSession(camera: CameraDevice, imageReader: ImageReader, preview: Size) {
        val texture = textureView.surfaceTexture ?: return onError("the preview surface is not ready")
        texture.setDefaultBufferSize(preview.width, preview.height)
        val previewSurface = Surface(texture)
        try {
            camera.createCaptureSession(listOf(previewSurface, imageReader.surface),
                object : CameraCaptureSession.StateCallback() {
                    override fun onConfigured(s: CameraCaptureSession) {
                        session = s
                        val request = camera.createCaptureRequest(CameraDevice.TEMPLATE_PREVIEW).apply {
                            addTarget(previewSurface)
                            addTarget(imageReader.surface)
                            set(CaptureRequest.CONTROL_AF_MODE, CaptureRequest.CONTROL_AF_MODE_CONTINUOUS_PICTURE)
                        }.build()
                        try {
                            s.setRepeatingRequest(request, null, cameraHandler)
                        } catch (e: CameraAccessException) {
                            onError("cannot start the preview: ${e.message}")
                        }
                    }

                    override fun onConfigureFailed(s: CameraCaptureSession) {
                        onError("the camera refused the preview + YUV_420_888 configuration")
                    }
                }, cameraHandler)
        } catch (e: CameraAccessException) {
            onError("cannot configure the camera: ${e.message}")
        }
    }

    /** Scale the preview so it fills the view without distortion (centre crop), upright on the display. */
    fun configureTransform(viewWidth: Int, viewHeight: Int) {
        val preview = previewSize ?: return
        if (viewWidth == 0 || viewHeight == 0) return
        val matrix = Matrix()
        val cx = viewWidth / 2f
        val cy = viewHeight / 2f
        val rotation = displayRotation
        if (rotation == Surface.ROTATION_90 || rotation == Surface.ROTATION_270) {
            val viewRect = RectF(0f, 0f, viewWidth.toFloat(), viewHeight.toFloat())
            val bufferRect = RectF(0f, 0f, preview.height.toFloat(), preview.width.toFloat())
            bufferRect.offset(cx - bufferRect.centerX(), cy - bufferRect.centerY())
            matrix.setRectToRect(viewRect, bufferRect, Matrix.ScaleToFit.FILL)
            val scale = maxOf(viewHeight.toFloat() / preview.height, viewWidth.toFloat() / preview.width)
            matrix.postScale(scale, scale, cx, cy)
            matrix.postRotate(90f * (rotation - 2), cx, cy)
        } else {
            // Upright content is preview.height x preview.width (the sensor is mounted sideways); the view
            // stretches it to the view's size, so undo the stretch and scale to fill.
            val contentW = preview.height.toFloat()
            val contentH = preview.width.toFloat()
            val scale = maxOf(viewWidth / contentW, viewHeight / contentH)
            matrix.setScale(contentW * scale / viewWidth, contentH * scale / viewHeight, cx, cy)
            if (rotation == Surface.ROTATION_180) matrix.postRotate(180f, cx, cy)
        }
        textureView.setTransform(matrix)
    }

    /** Stop the camera now; the reader is closed on the analysis thread, after the frame it may be reading. */
    fun close() {
        session?.close()
        session = null
        device?.close()
        device = null
        val r = reader ?: return
        reader = null
        analysisHandler.post { r.close() }
    }

    private fun chooseSize(sizes: List<Size>, targetArea: Int, aspectOf: Size?): Size {
        val matching = if (aspectOf == null) sizes
        else sizes.filter { it.width.toLong() * aspectOf.height == it.height.toLong() * aspectOf.width }
        val sameAspect = if (matching.isEmpty()) sizes else matching
        val bigEnough = sameAspect.filter { it.width * it.height >= targetArea }
        return bigEnough.minByOrNull { it.width * it.height } ?: sameAspect.maxByOrNull { it.width * it.height }!!
    }
}

/** Camera frame orientation: how far to rotate a sensor frame clockwise to see it upright on the display. */
object CameraRotation {
    fun displayDegrees(surfaceRotation: Int): Int = when (surfaceRotation) {
        Surface.ROTATION_90 -> 90
        Surface.ROTATION_180 -> 180
        Surface.ROTATION_270 -> 270
        else -> 0
    }

    /** Android's documented formula (CameraCharacteristics.SENSOR_ORIENTATION): back cameras subtract the
     *  display rotation, front cameras (mirrored) add it. */
    fun degrees(sensorOrientation: Int, displayDegrees: Int, frontFacing: Boolean): Int =
        if (frontFacing) (sensorOrientation + displayDegrees) % 360
        else (sensorOrientation - displayDegrees + 360) % 360
}
