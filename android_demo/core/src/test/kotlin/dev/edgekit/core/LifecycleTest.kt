package dev.edgekit.core

import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertFalse
import org.junit.jupiter.api.Assertions.assertNull
import org.junit.jupiter.api.Assertions.assertSame
import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.api.Test
import java.util.Collections
import java.util.Random
import java.util.concurrent.CountDownLatch
import java.util.concurrent.Executors
import java.util.concurrent.TimeUnit
import java.util.concurrent.atomic.AtomicInteger

/**
 * The camera's and the model's lifecycles driven through the orderings a phone produces and the old app got
 * wrong: pause before the camera opened, a device that opens after the pause, errors while configuring, close
 * twice, resume during a model load. The platform is a recording fake (camera2 cannot run on the JVM): it checks
 * that nothing is used after it was closed and counts every close.
 */
class LifecycleTest {
    class Device(val id: Int) { var closes = 0 }
    class Session(val id: Int) { var closes = 0 }

    class FakeCamera : CameraPort<Device, Session> {
        val opens = ArrayList<Int>()                   // generations asked to open, in order
        val sessionsAsked = ArrayList<Pair<Device, Int>>()
        val repeating = ArrayList<Session>()
        val released = Collections.synchronizedList(ArrayList<Int>())
        val violations = Collections.synchronizedList(ArrayList<String>())
        var throwOnOpen: Exception? = null
        var throwOnCreateSession: Exception? = null
        var throwOnRepeating: Exception? = null

        override fun open(generation: Int) {
            synchronized(this) { opens.add(generation) }
            throwOnOpen?.let { throw it }
        }

        override fun createSession(device: Device, generation: Int) {
            if (device.closes > 0) violations.add("createSession on closed device ${device.id}")
            synchronized(this) { sessionsAsked.add(device to generation) }
            throwOnCreateSession?.let { throw it }
        }

        override fun startRepeating(device: Device, session: Session) {
            if (device.closes > 0 || session.closes > 0) violations.add("startRepeating on a closed device or session")
            synchronized(this) { repeating.add(session) }
            throwOnRepeating?.let { throw it }
        }

        override fun closeSession(session: Session) { synchronized(session) { session.closes++ } }
        override fun closeDevice(device: Device) { synchronized(device) { device.closes++ } }
        override fun release(generation: Int) { released.add(generation) }
    }

    private val errors = Collections.synchronizedList(ArrayList<String>())
    private val camera = FakeCamera()
    private val machine = CameraLifecycle(camera) { errors.add(it) }

    private fun lastOpen() = camera.opens.last()

    @Test
    fun openConfigureRunStop() {
        machine.start()
        assertEquals(CameraLifecycle.State.OPENING, machine.current)
        val d = Device(1)
        machine.onOpened(lastOpen(), d)
        assertEquals(listOf(d to lastOpen()), camera.sessionsAsked)
        val s = Session(1)
        machine.onConfigured(lastOpen(), s)
        assertEquals(CameraLifecycle.State.RUNNING, machine.current)
        assertEquals(listOf(s), camera.repeating)
        machine.start()                                  // already running: nothing new
        assertEquals(1, camera.opens.size)
        machine.stop()
        assertEquals(CameraLifecycle.State.STOPPED, machine.current)
        assertEquals(1, s.closes)
        assertEquals(1, d.closes)
        assertEquals(listOf(1), camera.released)
        assertTrue(errors.isEmpty())
    }

    @Test
    fun pauseBeforeOpenedClosesTheDeviceWhenItArrives() {
        machine.start()
        val g = lastOpen()
        machine.stop()                                   // onPause between openCamera and onOpened
        assertEquals(listOf(g), camera.released)
        val late = Device(1)
        machine.onOpened(g, late)                        // the device arrives after the pause
        assertEquals(1, late.closes, "the late device is closed, not leaked")
        assertTrue(camera.sessionsAsked.isEmpty(), "nothing is configured on it")
        assertEquals(CameraLifecycle.State.STOPPED, machine.current)
        val lateSession = Session(9)
        machine.onConfigured(g, lateSession)             // and so does a session of that generation
        assertEquals(1, lateSession.closes)
        assertTrue(camera.repeating.isEmpty() && errors.isEmpty() && camera.violations.isEmpty())
    }

    @Test
    fun openedAfterPauseAndResumeOnlyTheNewGenerationIsUsed() {
        machine.start()
        val first = lastOpen()
        machine.stop()
        machine.start()                                  // resumed before the first open answered
        val second = lastOpen()
        assertTrue(second != first)
        val old = Device(1)
        val new = Device(2)
        machine.onOpened(first, old)
        assertEquals(1, old.closes)
        machine.onOpened(second, new)
        assertEquals(listOf(new to second), camera.sessionsAsked)
        machine.onConfigured(second, Session(2))
        assertEquals(CameraLifecycle.State.RUNNING, machine.current)
        assertEquals(0, new.closes)
        machine.onDeviceLost(first, old, 4)              // the old device's late error changes nothing
        assertEquals(CameraLifecycle.State.RUNNING, machine.current)
        assertTrue(errors.isEmpty())
    }

    @Test
    fun createSessionThrowingClosesTheDeviceAndReportsOnce() {
        camera.throwOnCreateSession = IllegalStateException("CameraDevice was already closed")
        machine.start()
        val d = Device(1)
        machine.onOpened(lastOpen(), d)
        assertEquals(CameraLifecycle.State.FAILED, machine.current)
        assertEquals(1, d.closes)
        assertEquals(listOf("cannot configure the camera: CameraDevice was already closed"), errors)
        assertEquals(listOf(lastOpen()), camera.released)
        machine.stop()                                   // the pause after a failure: nothing closed twice
        assertEquals(1, d.closes)
        assertEquals(1, camera.released.size)
    }

    @Test
    fun configureFailedAndRepeatingThrowingCloseEverything() {
        machine.start()
        val d = Device(1)
        machine.onOpened(lastOpen(), d)
        val s = Session(1)
        machine.onConfigureFailed(lastOpen(), s)
        assertEquals(CameraLifecycle.State.FAILED, machine.current)
        assertEquals(1, s.closes)
        assertEquals(1, d.closes)
        assertEquals(1, errors.size)

        camera.throwOnRepeating = Exception("CAMERA_DISCONNECTED (2)")   // a checked CameraAccessException on a phone
        machine.start()                                  // retry from FAILED
        val d2 = Device(2)
        machine.onOpened(lastOpen(), d2)
        val s2 = Session(2)
        machine.onConfigured(lastOpen(), s2)
        assertEquals(CameraLifecycle.State.FAILED, machine.current)
        assertEquals(1, s2.closes)
        assertEquals(1, d2.closes)
        assertEquals("cannot start the preview: CAMERA_DISCONNECTED (2)", errors.last())
        assertTrue(camera.violations.isEmpty())
    }

    @Test
    fun closeTwiceClosesOnce() {
        machine.start()
        val d = Device(1)
        machine.onOpened(lastOpen(), d)
        val s = Session(1)
        machine.onConfigured(lastOpen(), s)
        machine.stop()
        machine.stop()
        assertEquals(1, d.closes)
        assertEquals(1, s.closes)
        assertEquals(1, camera.released.size)
        machine.onDeviceLost(lastOpen(), d, null)        // camera2 reports the disconnect of the device we closed
        assertTrue(errors.isEmpty(), "no error for a device we closed ourselves")
    }

    @Test
    fun exceptionsFromOpenNeverEscape() {
        camera.throwOnOpen = SecurityException("no CAMERA permission")
        machine.start()
        assertEquals(CameraLifecycle.State.FAILED, machine.current)
        assertEquals(listOf("cannot open the camera: no CAMERA permission"), errors)
        assertEquals(1, camera.released.size)
        camera.throwOnOpen = null
        machine.start()
        assertEquals(CameraLifecycle.State.OPENING, machine.current)
    }

    @Test
    fun lostWhileOpeningOrRunning() {
        machine.start()
        val d = Device(1)
        machine.onDeviceLost(lastOpen(), d, 1)           // onError instead of onOpened (camera in use)
        assertEquals(1, d.closes)
        assertEquals(CameraLifecycle.State.FAILED, machine.current)
        assertEquals("the camera stopped with error 1", errors.last())
        machine.start()
        val d2 = Device(2)
        machine.onOpened(lastOpen(), d2)
        val s2 = Session(2)
        machine.onConfigured(lastOpen(), s2)
        machine.onDeviceLost(lastOpen(), d2, null)       // another app took the camera while running
        assertEquals(1, d2.closes)
        assertEquals(1, s2.closes)
        assertEquals("the camera was disconnected (another app may be using it)", errors.last())
    }

    /** Random orderings of every event (seeded): the invariants hold after each run. */
    @Test
    fun randomOrderingsNeverLeakNorUseAClosedDevice() {
        repeat(300) { seed ->
            val random = Random(seed.toLong())
            val port = FakeCamera()
            val errs = ArrayList<String>()
            val m = CameraLifecycle(port) { errs.add(it) }
            val devices = ArrayList<Pair<Int, Device>>()
            val sessions = ArrayList<Pair<Int, Session>>()
            var next = 0
            repeat(40) {
                port.throwOnCreateSession = if (random.nextInt(8) == 0) IllegalStateException("closed") else null
                port.throwOnRepeating = if (random.nextInt(8) == 0) IllegalArgumentException("bad surface") else null
                val gens = port.opens
                val g = if (gens.isEmpty()) 1 else gens[random.nextInt(gens.size)]
                when (random.nextInt(9)) {
                    0, 1 -> m.start()
                    2 -> m.stop()
                    3, 4 -> Device(next++).also { devices.add(g to it); m.onOpened(g, it) }
                    5, 6 -> Session(next++).also { sessions.add(g to it); m.onConfigured(g, it) }
                    7 -> m.onConfigureFailed(g, if (random.nextBoolean()) Session(next++).also { sessions.add(g to it) } else null)
                    else -> if (devices.isNotEmpty()) devices[random.nextInt(devices.size)].let { (dg, d) -> m.onDeviceLost(dg, d, null) }
                }
            }
            m.stop()
            assertEquals(CameraLifecycle.State.STOPPED, m.current)
            assertTrue(port.violations.isEmpty(), "seed $seed: ${port.violations}")
            for ((_, d) in devices) assertTrue(d.closes >= 1, "seed $seed: device ${d.id} never closed")
            for ((_, s) in sessions) assertTrue(s.closes >= 1, "seed $seed: session ${s.id} never closed")
            assertEquals(port.opens.toSet(), port.released.toSet(), "seed $seed: release once per opened generation")
            assertEquals(port.released.size, port.released.toSet().size, "seed $seed: a generation released twice")
        }
    }

    /** The activity (start/stop) and the camera thread (callbacks) at once: still no leak, no exception. */
    @Test
    fun concurrentActivityAndCameraThread() {
        val port = FakeCamera()
        val m = CameraLifecycle(port) { }
        val devices = Collections.synchronizedList(ArrayList<Device>())
        val sessions = Collections.synchronizedList(ArrayList<Session>())
        val pool = Executors.newFixedThreadPool(2)
        val ids = AtomicInteger()
        val activity = pool.submit { repeat(2000) { if (it % 2 == 0) m.start() else m.stop() } }
        val cameraThread = pool.submit {
            repeat(4000) { i ->
                val g = synchronized(port) { port.opens.lastOrNull() } ?: return@repeat
                if (i % 2 == 0) Device(ids.incrementAndGet()).also { devices.add(it); m.onOpened(g, it) }
                else Session(ids.incrementAndGet()).also { sessions.add(it); m.onConfigured(g, it) }
            }
        }
        activity.get(60, TimeUnit.SECONDS)
        cameraThread.get(60, TimeUnit.SECONDS)
        pool.shutdown()
        m.stop()
        assertTrue(port.violations.isEmpty(), port.violations.take(3).toString())
        assertTrue(devices.all { it.closes >= 1 } && sessions.all { it.closes >= 1 })
        assertEquals(port.released.size, port.released.toSet().size)
    }

    // ---- the model ----

    class Model(val key: String) : AutoCloseable {
        var closes = 0
        override fun close() { closes++ }
    }

    class Recorder : ModelSlot.Listener<String, Model> {
        val loaded = Collections.synchronizedList(ArrayList<String>())
        val failed = Collections.synchronizedList(ArrayList<String>())
        override fun loaded(key: String, model: Model) { loaded.add(key) }
        override fun failed(key: String, error: Exception) { failed.add("$key: ${error.message}") }
    }

    /** A serial executor run by hand: the test decides when the analysis thread gets to the load. */
    class Queue : (Runnable) -> Unit {
        val pending = ArrayList<Runnable>()
        override fun invoke(r: Runnable) { pending.add(r) }
        fun runAll() { while (pending.isNotEmpty()) pending.removeAt(0).run() }
    }

    @Test
    fun aModelLoadsOnceAndStaysAcrossPauseAndResume() {
        val queue = Queue()
        val made = ArrayList<Model>()
        val rec = Recorder()
        val slot = ModelSlot(queue, { key: String -> Model(key).also { made.add(it) } }, rec)
        slot.request("a/4")
        slot.request("a/4")
        queue.runAll()
        assertEquals(listOf("a/4"), rec.loaded)
        assertSame(made[0], slot.current())
        slot.request("a/4")                              // the next resume: the loaded model is kept
        queue.runAll()
        assertEquals(1, made.size)
        slot.request("a/2")                              // threads changed: the old one is closed before the new loads
        queue.runAll()
        assertEquals(1, made[0].closes)
        assertSame(made[1], slot.current())
        slot.dispose()
        slot.dispose()                                   // close twice: once
        assertNull(slot.current())
        assertEquals(0, made[1].closes, "dispose closes on the analysis thread, not on the caller's")
        queue.runAll()
        assertEquals(1, made[1].closes)
    }

    /** A model the analysis thread is running: closing it under the running inference is a native
     *  use-after-free (ONNX Runtime, LiteRT) or a throwing destroy() that leaks the module (ExecuTorch). */
    class RunningModel(val key: String) : AutoCloseable {
        val running = AtomicInteger()
        val events = Collections.synchronizedList(ArrayList<String>())
        @Volatile var closedOn: String? = null
        fun run(inside: CountDownLatch, proceed: CountDownLatch) {
            running.incrementAndGet()
            events.add("run")
            inside.countDown()
            proceed.await(30, TimeUnit.SECONDS)
            events.add("run done")
            running.decrementAndGet()
        }
        override fun close() {
            check(running.get() == 0) { "closed during an inference" }
            events.add("close")
            closedOn = Thread.currentThread().name
        }
    }

    /** onDestroy (main thread) while a frame is inside the model: the close waits for that frame, runs on the
     *  analysis thread, and a frame queued after the dispose finds no model. */
    @Test
    fun disposeClosesOnTheAnalysisThreadAfterTheFrameInFlight() {
        val analysis = Executors.newSingleThreadExecutor { r -> Thread(r, "analysis") }
        val closeErrors = Collections.synchronizedList(ArrayList<String>())
        val rec = object : ModelSlot.Listener<String, RunningModel> {
            override fun loaded(key: String, model: RunningModel) {}
            override fun failed(key: String, error: Exception) {}
            override fun closeFailed(model: RunningModel, error: Exception) { closeErrors.add(error.message ?: "") }
        }
        val slot = ModelSlot({ r: Runnable -> analysis.execute(r) }, { key: String -> RunningModel(key) }, rec)
        slot.request("a")
        val m = analysis.submit<RunningModel?> { slot.current() }.get(30, TimeUnit.SECONDS)!!
        val inside = CountDownLatch(1)
        val proceed = CountDownLatch(1)
        val frame = analysis.submit { slot.current()!!.run(inside, proceed) }   // a frame being classified
        assertTrue(inside.await(30, TimeUnit.SECONDS))
        val t0 = System.nanoTime()
        slot.dispose()                                     // onDestroy on this (the main) thread
        assertTrue((System.nanoTime() - t0) / 1e6 < 1000, "dispose waited for the frame")
        assertEquals(listOf("run"), m.events, "closed while the frame was inside the model")
        val late = analysis.submit<RunningModel?> { slot.current() }   // a frame that arrives after onDestroy
        proceed.countDown()
        frame.get(30, TimeUnit.SECONDS)
        assertNull(late.get(30, TimeUnit.SECONDS))
        analysis.shutdown()                                // quitSafely: what was posted before still runs
        assertTrue(analysis.awaitTermination(30, TimeUnit.SECONDS))
        assertEquals(listOf("run", "run done", "close"), m.events)
        assertEquals("analysis", m.closedOn)
        assertTrue(closeErrors.isEmpty(), closeErrors.toString())
    }

    /** A close that throws (ExecuTorch's destroy()) is reported, not swallowed. */
    @Test
    fun aCloseThatThrowsIsReported() {
        val queue = Queue()
        val errors = ArrayList<String>()
        val slot = ModelSlot(queue, { _: String -> AutoCloseable { throw IllegalStateException("cannot destroy") } },
            object : ModelSlot.Listener<String, AutoCloseable> {
                override fun loaded(key: String, model: AutoCloseable) {}
                override fun failed(key: String, error: Exception) {}
                override fun closeFailed(model: AutoCloseable, error: Exception) { errors.add(error.message ?: "") }
            })
        slot.request("a")
        queue.runAll()
        slot.dispose()
        queue.runAll()
        assertEquals(listOf("cannot destroy"), errors)
    }

    @Test
    fun aSupersededRequestIsSkippedOrClosed() {
        val queue = Queue()
        val made = ArrayList<Model>()
        val slot = ModelSlot(queue, { key: String -> Model(key).also { made.add(it) } }, Recorder())
        slot.request("a")
        slot.request("b")                                // before "a" started: "a" is never loaded
        queue.runAll()
        assertEquals(listOf("b"), made.map { it.key })
        assertEquals("b", slot.current()!!.key)
    }

    @Test
    fun aFailedLoadIsReportedAndRetriedOnTheNextRequest() {
        val queue = Queue()
        var fail = true
        val rec = Recorder()
        val slot = ModelSlot(queue, { key: String -> if (fail) throw IllegalArgumentException("sha256 differs") else Model(key) }, rec)
        slot.request("a")
        queue.runAll()
        assertEquals(listOf("a: sha256 differs"), rec.failed)
        assertNull(slot.current())
        fail = false
        slot.request("a")
        queue.runAll()
        assertEquals("a", slot.current()!!.key)
        val m = slot.current()!!
        slot.drop(m)                                     // it failed on a frame: closed, reloaded on request
        assertEquals(1, m.closes)
        assertNull(slot.current())
    }

    /** Resume during a load: pause and resume return at once (nothing joins the loading thread), one load runs,
     *  and its model is the one used; a pause that becomes a destroy closes the model when the load ends. */
    @Test
    fun resumeDuringALoadNeitherBlocksNorLoadsTwice() {
        val analysis = Executors.newSingleThreadExecutor()
        val started = CountDownLatch(1)
        val proceed = CountDownLatch(1)
        val loads = AtomicInteger()
        val made = Collections.synchronizedList(ArrayList<Model>())
        val slot = ModelSlot({ r: Runnable -> analysis.execute(r) }, { key: String ->
            loads.incrementAndGet()
            started.countDown()
            proceed.await(30, TimeUnit.SECONDS)
            Model(key).also { made.add(it) }
        }, Recorder())
        slot.request("a")
        assertTrue(started.await(30, TimeUnit.SECONDS))
        val t0 = System.nanoTime()
        val lifecycle = CameraLifecycle(FakeCamera()) { }
        lifecycle.start(); lifecycle.stop()               // onPause while the model loads
        lifecycle.start(); slot.request("a")               // onResume: the same model is asked for again
        assertTrue((System.nanoTime() - t0) / 1e6 < 1000, "pause/resume waited for the load")
        assertTrue(slot.isLoading)
        proceed.countDown()
        analysis.submit { }.get(30, TimeUnit.SECONDS)      // the load (and anything queued after it) finished
        assertEquals(1, loads.get())
        assertEquals("a", analysis.submit<Model?> { slot.current() }.get()!!.key)

        val started2 = CountDownLatch(1)
        val proceed2 = CountDownLatch(1)
        val slot2 = ModelSlot({ r: Runnable -> analysis.execute(r) }, { key: String ->
            started2.countDown(); proceed2.await(30, TimeUnit.SECONDS); Model(key).also { made.add(it) }
        }, Recorder())
        slot2.request("b")
        assertTrue(started2.await(30, TimeUnit.SECONDS))
        slot2.dispose()                                    // destroyed during the load
        proceed2.countDown()
        analysis.submit { }.get(30, TimeUnit.SECONDS)
        val b = made.first { it.key == "b" }
        assertEquals(1, b.closes, "the model that finished loading after dispose is closed")
        assertNull(analysis.submit<Model?> { slot2.current() }.get())
        assertFalse(slot2.isLoading)
        analysis.shutdown()
    }
}
