package dev.edgekit.demo

import android.content.Context
import android.graphics.Canvas
import android.graphics.Paint
import android.util.AttributeSet
import android.view.View
import dev.edgekit.core.BoxMapping
import dev.edgekit.core.PreviewTransform
import java.util.Locale

/**
 * A detector's boxes drawn over the preview, each with its class name and score. The boxes come in the upright
 * frame's pixels; core's BoxMapping puts them on the preview through its transform (mirrored for a front camera,
 * whose preview is a mirror image). Set and drawn on the main thread; nothing is drawn until [show].
 */
class BoxOverlay(context: Context, attrs: AttributeSet?) : View(context, attrs) {
    private val density = context.resources.displayMetrics.density
    private val stroke = Paint().apply {
        style = Paint.Style.STROKE
        strokeWidth = 3f * density
    }
    private val labelBackground = Paint()
    private val text = Paint().apply {
        color = 0xFFFFFFFF.toInt()
        textSize = 14f * density
        isAntiAlias = true
    }
    private var frame: DetectionFrame? = null
    private var transform: PreviewTransform? = null
    private var frontFacing = false
    private var view = DoubleArray(0)

    fun show(detections: DetectionFrame, transform: PreviewTransform?, frontFacing: Boolean) {
        frame = detections
        this.transform = transform
        this.frontFacing = frontFacing
        invalidate()
    }

    fun hide() {
        frame = null
        invalidate()
    }

    override fun onDraw(canvas: Canvas) {
        val f = frame ?: return
        val t = transform ?: return
        if (f.count == 0 || f.frameWidth == 0) return
        if (view.size < 4 * f.count) view = DoubleArray(4 * f.count)
        BoxMapping.toView(f.boxes, f.count, f.frameWidth, f.frameHeight, t, frontFacing, view)
        for (i in 0 until f.count) {
            val color = COLORS[i % COLORS.size]
            stroke.color = color
            labelBackground.color = color
            val l = view[4 * i].toFloat()
            val top = view[4 * i + 1].toFloat()
            canvas.drawRect(l, top, view[4 * i + 2].toFloat(), view[4 * i + 3].toFloat(), stroke)
            val label = String.format(Locale.US, "%s %.0f%%", f.names[i], f.scores[i] * 100f)
            val y = maxOf(top, text.textSize + 4 * density)
            canvas.drawRect(l, y - text.textSize - 4 * density, l + text.measureText(label) + 8 * density, y, labelBackground)
            canvas.drawText(label, l + 4 * density, y - 3 * density, text)
        }
    }

    companion object {
        private val COLORS = intArrayOf(0xE6E53935.toInt(), 0xE61E88E5.toInt(), 0xE643A047.toInt(), 0xE6FB8C00.toInt(),
            0xE68E24AA.toInt(), 0xE600ACC1.toInt(), 0xE6FDD835.toInt(), 0xE66D4C41.toInt())
    }
}
