package adept.tensor;

import static adept.bindings.adept_torch_h.*;

/** Process-wide libtorch runtime: versions, threads, seeds, devices, live-tensor count. */
public final class Torch {
    private Torch() {}

    /** Loads the shim and libtorch (idempotent); every tensor operation does this implicitly. */
    public static void init() {
        NativeLoader.ensureLoaded();
    }

    /**
     * The file adept's shim was loaded from (loading it first): the cache copy extracted from the jar, or the file
     * adept.native.dir / ADEPT_NATIVE_DIR pointed at.
     */
    public static java.nio.file.Path nativeLibrary() {
        init();
        return NativeLoader.loadedFrom();
    }

    /** libtorch version of the headers the shim was compiled against. */
    public static String compiledVersion() {
        init();
        return Check.cString(at_compiled_version());
    }

    /** libtorch version of the library loaded at run time. */
    public static String runtimeVersion() {
        init();
        return Check.cString(Check.handle(at_runtime_version()));
    }

    /** Sets libtorch's intra-op thread count (the pool every CPU operation uses). */
    public static void setNumThreads(int threads) {
        init();
        Check.status(at_set_num_threads(threads));
    }

    /** libtorch's intra-op thread count. */
    public static int numThreads() {
        init();
        return Check.status(at_get_num_threads());
    }

    /** Seeds libtorch's default generators (CPU and CUDA). */
    public static void manualSeed(long seed) {
        init();
        Check.status(at_manual_seed(seed));
    }

    /** The default CPU generator's state (uint8 tensor, caller owns it), for exact resume. */
    public static Tensor cpuRngState() {
        init();
        return Tensor.wrapNullable(Check.handle(at_cpu_rng_state()));
    }

    /** Restores libtorch's CPU generator from a state of {@link #cpuRngState}. */
    public static void setCpuRngState(Tensor state) {
        init();
        Check.status(at_set_cpu_rng_state(state.handle()));
    }

    /** Whether libtorch's fused AdamW kernel exists here for tensors on device (libtorch >= 2.4 on CPU). */
    public static boolean hasFusedAdamW(Device device) {
        init();
        return at_has_fused_adamw(device.isCuda() ? AT_DEVICE_CUDA() : AT_DEVICE_CPU()) == 1;
    }

    /** Native tensor handles alive now, across all threads (for leak checks). */
    public static long liveTensors() {
        init();
        return at_live_tensors();
    }

    /** True when libtorch was built with CUDA and sees a device. */
    public static boolean cudaAvailable() {
        init();
        return at_cuda_is_available() == 1;
    }

    /** The number of CUDA devices libtorch sees. */
    public static int cudaDeviceCount() {
        init();
        return at_cuda_device_count();
    }

    /** Waits until the device has finished its queued work. */
    public static void cudaSynchronize(Device device) {
        init();
        Check.status(at_cuda_synchronize(device.index()));
    }

    /** Bytes held by libtorch's CUDA caching allocator on the device, or -1 when unknown. */
    public static long cudaMemoryAllocated(Device device) {
        init();
        long bytes = at_cuda_memory_allocated(device.index());
        if (bytes < 0) {
            String error = Check.takeError();
            if (error != null) throw new TorchException(error);
        }
        return bytes;
    }

    /** The peak bytes libtorch's caching allocator has handed out on the device. */
    public static long cudaMaxMemoryAllocated(Device device) {
        init();
        long bytes = at_cuda_max_memory_allocated(device.index());
        if (bytes < 0) {
            String error = Check.takeError();
            if (error != null) throw new TorchException(error);
        }
        return bytes;
    }

    /** Devices libtorch can use here: cpu, then every CUDA device. */
    public static java.util.List<Device> devices() {
        var out = new java.util.ArrayList<Device>();
        out.add(Device.CPU);
        if (cudaAvailable()) {
            for (int i = 0; i < cudaDeviceCount(); i++) out.add(Device.cuda(i));
        }
        return out;
    }

    /** Disables autograd recording on this thread until the returned guard is closed. */
    public static GradMode noGrad() {
        init();
        return new GradMode(at_set_grad_enabled(0) == 1);
    }

    /** Turns gradient recording on until the returned mode is closed (then the previous state is back). */
    public static GradMode enableGrad() {
        init();
        return new GradMode(at_set_grad_enabled(1) == 1);
    }

    /** True when operations on this thread are recorded for autograd. */
    public static boolean isGradEnabled() {
        init();
        return at_is_grad_enabled() == 1;
    }

    /** Restores the previous grad mode of this thread on close. */
    public static final class GradMode implements AutoCloseable {
        private final boolean previous;

        private GradMode(boolean previous) {
            this.previous = previous;
        }

        @Override
        public void close() {
            at_set_grad_enabled(previous ? 1 : 0);
        }
    }

    /**
     * This thread's pending shim error message, cleared; null when the last failing call left none. For rooms
     * with their own shim calls (adept.parallel), so the error channel is read in one place.
     */
    public static String takeNativeError() {
        return Check.takeError();
    }
}
