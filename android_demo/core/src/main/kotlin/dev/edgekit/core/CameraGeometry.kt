package dev.edgekit.core

/**
 * Where camera frames and the preview stand relative to the screen, for any sensor orientation (0, 90, 180, 270)
 * and any display rotation, front or back camera. Pure arithmetic: the app feeds it camera2's
 * SENSOR_ORIENTATION, LENS_FACING and the display's rotation, and applies the results to a Matrix and to the
 * frames.
 */
object CameraGeometry {
    /**
     * The clockwise rotation that turns a sensor frame upright on a display rotated by `displayDegrees`
     * (Surface.ROTATION_* in degrees): Android's documented formula (CameraCharacteristics.SENSOR_ORIENTATION),
     * back cameras subtract the display rotation, front cameras (mirrored) add it.
     */
    fun frameRotation(sensorOrientation: Int, displayDegrees: Int, frontFacing: Boolean): Int {
        val s = Rotation.normalise(sensorOrientation)
        val d = Rotation.normalise(displayDegrees)
        return if (frontFacing) (s + d) % 360 else (s - d + 360) % 360
    }

    /**
     * The TextureView transform that shows a preview buffer of previewWidth x previewHeight (sensor pixels)
     * upright, undistorted and filling a view of viewWidth x viewHeight (centre crop). The camera's SurfaceTexture
     * already turns the buffer upright for the device's natural orientation (so its content is
     * previewHeight x previewWidth when the sensor is mounted at 90 or 270 degrees) and the view stretches that
     * to its own size; the transform undoes the stretch, turns the content by -displayDegrees (the view turned
     * with the display, the world did not) and scales it uniformly to fill. Matrix order:
     * setScale(stretchX, stretchY, cx, cy); postRotate(rotate, cx, cy); postScale(fill, fill, cx, cy).
     */
    fun previewTransform(viewWidth: Int, viewHeight: Int, previewWidth: Int, previewHeight: Int,
                         sensorOrientation: Int, displayDegrees: Int): PreviewTransform {
        require(viewWidth > 0 && viewHeight > 0 && previewWidth > 0 && previewHeight > 0) { "sizes must be positive" }
        val sideways = Rotation.normalise(sensorOrientation) % 180 == 90
        val naturalW = (if (sideways) previewHeight else previewWidth).toDouble()   // upright in natural orientation
        val naturalH = (if (sideways) previewWidth else previewHeight).toDouble()
        val d = Rotation.normalise(displayDegrees)
        val screenW = if (d % 180 == 90) naturalH else naturalW                      // upright on this display
        val screenH = if (d % 180 == 90) naturalW else naturalH
        val fill = maxOf(viewWidth / screenW, viewHeight / screenH)
        return PreviewTransform(
            stretchX = naturalW / viewWidth, stretchY = naturalH / viewHeight, rotate = ((360 - d) % 360).toDouble(),
            fill = fill, contentWidth = screenW * fill, contentHeight = screenH * fill,
            viewWidth = viewWidth.toDouble(), viewHeight = viewHeight.toDouble(),
        )
    }
}

/**
 * The preview's transform (see [CameraGeometry.previewTransform]) and where the upright content lands: a
 * contentWidth x contentHeight rectangle centred on the view (larger than the view on one side: cropped).
 */
data class PreviewTransform(
    val stretchX: Double, val stretchY: Double, val rotate: Double, val fill: Double,
    val contentWidth: Double, val contentHeight: Double, val viewWidth: Double, val viewHeight: Double,
) {
    /**
     * A region of the upright frame (fractions, e.g. the model's centre crop from [Preprocessor.modelRegion]) in
     * view pixels (left, top, right, bottom), for a frame with the preview's aspect ratio. Parts outside the view
     * are outside the returned bounds too (the caller clips).
     */
    fun viewRect(region: Region): DoubleArray {
        val left = (viewWidth - contentWidth) / 2
        val top = (viewHeight - contentHeight) / 2
        return doubleArrayOf(left + region.left * contentWidth, top + region.top * contentHeight,
            left + region.right * contentWidth, top + region.bottom * contentHeight)
    }
}
