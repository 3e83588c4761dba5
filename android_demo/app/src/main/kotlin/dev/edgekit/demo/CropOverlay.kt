package dev.edgekit.demo

import android.content.Context
import android.graphics.Canvas
import android.graphics.Paint
import android.util.AttributeSet
import android.view.View

/**
 * Drawn over the preview: the part of the frame the model sees (the manifest's centre crop) with the rest dimmed,
 * so what is classified is what the user aims at. Set from the main thread; nothing is drawn until [show].
 */
class CropOverlay(context: Context, attrs: AttributeSet?) : View(context, attrs) {
    private val dim = Paint().apply { color = 0x66000000 }
    private val border = Paint().apply {
        color = 0xCCFFFFFF.toInt()
        style = Paint.Style.STROKE
        strokeWidth = 3f * context.resources.displayMetrics.density
    }
    private var rect: FloatArray? = null

    /** left, top, right, bottom in this view's pixels (the preview has the same size and position). */
    fun show(left: Float, top: Float, right: Float, bottom: Float) {
        rect = floatArrayOf(left, top, right, bottom)
        invalidate()
    }

    fun hide() {
        rect = null
        invalidate()
    }

    override fun onDraw(canvas: Canvas) {
        val r = rect ?: return
        val w = width.toFloat()
        val h = height.toFloat()
        val l = maxOf(0f, r[0]); val t = maxOf(0f, r[1]); val rr = minOf(w, r[2]); val b = minOf(h, r[3])
        canvas.drawRect(0f, 0f, w, t, dim)
        canvas.drawRect(0f, b, w, h, dim)
        canvas.drawRect(0f, t, l, b, dim)
        canvas.drawRect(rr, t, w, b, dim)
        canvas.drawRect(l, t, rr, b, border)
    }
}
