package dev.edgekit.core

/**
 * What the camera lifecycle asks of the platform (camera2 in the app; a recording fake in the JVM tests). Each
 * call may throw (CameraAccessException, IllegalStateException, SecurityException, ...): [CameraLifecycle]
 * catches everything and turns it into a closed camera and one error message. D is the device, S the session.
 */
interface CameraPort<D : Any, S : Any> {
    /** Start opening the camera; the platform answers later with [CameraLifecycle.onOpened] (or an error) for `generation`. */
    fun open(generation: Int)

    /** Start configuring a capture session on `device`; answered by [CameraLifecycle.onConfigured] / [CameraLifecycle.onConfigureFailed]. */
    fun createSession(device: D, generation: Int)

    /** Start the repeating preview + analysis request. */
    fun startRepeating(device: D, session: S)

    fun closeSession(session: S)

    fun closeDevice(device: D)

    /** After the session and device of `generation` are closed: release what open() made (the frame reader). */
    fun release(generation: Int)
}

/**
 * The camera's open/configure/close lifecycle as a small state machine, safe to call from any thread (one lock):
 * the activity calls [start] and [stop], the camera thread delivers the platform's callbacks. Every call of
 * [start] begins a new generation; a callback of an older generation (a device that opens after the activity
 * paused, a session configured after an error) is closed at once instead of being used. Every device and session
 * handed over is closed, and none is used after it was closed, whatever the order of events (the close of a
 * device the machine holds happens once; a lost device it does not hold is closed on that report, which camera2
 * allows on a closed device); release() runs once per generation that opened; every exception from the platform becomes
 * state FAILED with the camera closed and one message to [onError], never a crash.
 *
 *   STOPPED/FAILED --start--> OPENING --onOpened--> CONFIGURING --onConfigured--> RUNNING
 *   any --stop--> STOPPED;  OPENING/CONFIGURING/RUNNING --error, disconnect, exception--> FAILED
 */
class CameraLifecycle<D : Any, S : Any>(private val port: CameraPort<D, S>, private val onError: (String) -> Unit) {
    enum class State { STOPPED, OPENING, CONFIGURING, RUNNING, FAILED }

    private val lock = Any()
    private var state = State.STOPPED
    private var generation = 0
    private var device: D? = null
    private var session: S? = null
    private var released = true

    val current: State get() = synchronized(lock) { state }

    /** Open the camera unless it is open or opening (idempotent). */
    fun start() = synchronized(lock) {
        if (state != State.STOPPED && state != State.FAILED) return
        generation++
        state = State.OPENING
        released = false
        val g = generation
        guard("cannot open the camera") { port.open(g) }
    }

    /** Close whatever is open now and forget callbacks in flight (idempotent: a second stop does nothing). */
    fun stop() = synchronized(lock) {
        generation++
        closeAll(generation - 1)
        state = State.STOPPED
    }

    fun onOpened(generation: Int, opened: D) = synchronized(lock) {
        if (generation != this.generation || state != State.OPENING) {
            quietly { port.closeDevice(opened) }  // opened after a stop (or a second open): not ours any more
            return
        }
        device = opened
        state = State.CONFIGURING
        guard("cannot configure the camera") { port.createSession(opened, generation) }
    }

    fun onConfigured(generation: Int, configured: S) = synchronized(lock) {
        val d = device
        if (generation != this.generation || state != State.CONFIGURING || d == null) {
            quietly { port.closeSession(configured) }
            return
        }
        session = configured
        guard("cannot start the preview") {
            port.startRepeating(d, configured)
            state = State.RUNNING
        }
    }

    fun onConfigureFailed(generation: Int, failed: S?) = synchronized(lock) {
        if (failed != null && failed !== session) quietly { port.closeSession(failed) }
        if (generation == this.generation && state == State.CONFIGURING) {
            fail("the camera refused the preview + YUV_420_888 configuration")
        }
    }

    /**
     * The device was disconnected (another app took the camera) or reported an error (`error` = its code). A device
     * this machine does not hold (an older generation's, or one lost while opening) is closed here (camera2's
     * close() may be called again on a closed device); the current one is closed with everything else (FAILED).
     */
    fun onDeviceLost(generation: Int, lost: D, error: Int?) = synchronized(lock) {
        if (lost !== device) quietly { port.closeDevice(lost) }
        if (generation == this.generation && (state == State.OPENING || lost === device)) {
            fail(if (error == null) "the camera was disconnected (another app may be using it)" else "the camera stopped with error $error")
        }
    }

    /** Runs a platform call; anything it throws closes the camera (FAILED) with `what` and the reason. */
    private inline fun guard(what: String, call: () -> Unit) {
        try {
            call()
        } catch (e: Exception) {
            fail("$what: ${e.message ?: e.javaClass.simpleName}")
        }
    }

    private fun fail(message: String) {
        generation++
        closeAll(generation - 1)
        state = State.FAILED
        quietly { onError(message) }
    }

    private fun closeAll(ofGeneration: Int) {
        session?.let { s -> quietly { port.closeSession(s) } }
        session = null
        device?.let { d -> quietly { port.closeDevice(d) } }
        device = null
        if (!released) {
            released = true
            quietly { port.release(ofGeneration) }
        }
    }

    private inline fun quietly(call: () -> Unit) {
        try {
            call()
        } catch (e: Exception) {
            // closing something the platform already closed; nothing left to do
        }
    }
}

/**
 * One loaded model (a classifier, a backend: anything closeable), loaded off the main thread on a serial
 * executor (the analysis thread) and kept across pause/resume: [request] with the key already loaded or loading
 * does nothing (a resume during a load waits for that load instead of starting another, and never blocks), a new
 * key loads once the executor is free, a load whose key is no longer wanted when it finishes is closed, and
 * [dispose] closes the model on the executor, after whatever the executor is running (a frame inside the model)
 * and before anything queued later, or, if a load is running, when it finishes. Loads run one at a time because
 * the executor is serial; a failed load reports once and is tried again on the next [request] of its key.
 *
 * The model is used (frames) and closed on the executor's thread only: [current] and [drop] are called there,
 * [dispose] may be called from any thread (the activity's onDestroy on the main thread) and never closes the
 * model on the calling thread, because a native runtime closed under a running inference is a use-after-free.
 * A close that throws is reported to [Listener.closeFailed], not swallowed.
 */
class ModelSlot<K : Any, M : AutoCloseable>(
    private val executor: (Runnable) -> Unit,
    private val loader: (K) -> M,
    private val listener: Listener<K, M>,
) {
    interface Listener<K, M> {
        fun loaded(key: K, model: M)
        fun failed(key: K, error: Exception)

        /** Closing `model` threw (on the executor's thread): the runtime may have kept its memory. */
        fun closeFailed(model: M, error: Exception) {}
    }

    private val lock = Any()
    private var wanted: K? = null
    private var loading: K? = null
    private var loadedKey: K? = null
    private var model: M? = null
    private var disposed = false

    /** Load `key` unless it is loaded or loading. From any thread; returns at once. */
    fun request(key: K) {
        synchronized(lock) {
            if (disposed) return
            wanted = key
            if (key == loading || (key == loadedKey && model != null)) return
            loading = key
        }
        executor(Runnable { load(key) })
    }

    /** The model for the latest request, or null while it loads, failed or after [dispose]. Call on the executor's thread. */
    fun current(): M? = synchronized(lock) { if (!disposed && loadedKey == wanted) model else null }

    /** The current model failed while running: close it and forget it (the next request of its key reloads). */
    fun drop(failed: M) {
        val close = synchronized(lock) {
            if (model !== failed) return
            model = null
            loadedKey = null
            failed
        }
        closeQuietly(close)
    }

    /**
     * Close the model on the executor (after the frame it may be running now; frames queued later see no model),
     * or, if a load is in flight, when it finishes; further requests are ignored. From any thread; returns at
     * once. Idempotent. The executor must still run what is posted to it (the app quits its analysis thread with
     * quitSafely after this).
     */
    fun dispose() {
        val close = synchronized(lock) {
            if (disposed) return
            disposed = true
            wanted = null
            val m = model
            model = null
            loadedKey = null
            m
        }
        if (close != null) executor(Runnable { closeQuietly(close) })
    }

    val isLoading: Boolean get() = synchronized(lock) { loading != null }

    private fun load(key: K) {
        synchronized(lock) {
            if (disposed || wanted != key || loading != key) {   // superseded before it started
                if (loading == key) loading = null
                return
            }
        }
        val previous = synchronized(lock) {
            val m = model
            model = null
            loadedKey = null
            m
        }
        if (previous != null) closeQuietly(previous)           // free the old model's memory before loading the next
        val result = try {
            loader(key)
        } catch (e: Exception) {
            val report = synchronized(lock) {
                if (loading == key) loading = null
                !disposed && wanted == key
            }
            if (report) listener.failed(key, e)
            return
        }
        val keep = synchronized(lock) {
            if (loading == key) loading = null
            if (!disposed && wanted == key) {
                model = result
                loadedKey = key
                true
            } else {
                false
            }
        }
        if (keep) listener.loaded(key, result) else closeQuietly(result)
    }

    private fun closeQuietly(m: M) {
        try {
            m.close()
        } catch (e: Exception) {
            try {
                listener.closeFailed(m, e)
            } catch (ignored: Exception) {
                // the report itself failed: nothing more to do
            }
        }
    }
}
