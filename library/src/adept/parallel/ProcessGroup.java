package adept.parallel;

import static adept.bindings.adept_torch_h.*;

import adept.tensor.Device;
import adept.tensor.Scope;
import adept.tensor.Tensor;
import adept.tensor.Torch;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.time.Duration;
import java.util.List;

/**
 * This process's membership of a c10d process group (owning handle): collectives over the ranks' tensors,
 * in place. Every collective must be issued by all ranks in the same order. Waits are bounded by the
 * timeout the group was made with; a peer that dies fails them with a {@link DistException}. Close it
 * after every {@link Work} is closed. Calls from one thread at a time.
 */
public final class ProcessGroup implements AutoCloseable {
    private MemorySegment handle;
    private final int rank;
    private final int size;
    private final Device device;

    private ProcessGroup(MemorySegment handle, int rank, int size, Device device) {
        this.handle = handle;
        this.rank = rank;
        this.size = size;
        this.device = device;
    }

    /** Whether this shim can make groups of the backend (Gloo needs the shim built with libgloo-dev; NCCL a CUDA build). */
    public static boolean available(Backend backend) {
        Torch.init();
        return at_dist_has_backend(backend.code()) == 1;
    }

    /** The backend a run on device uses unless the environment names one: NCCL for CUDA, Gloo for the CPU. */
    public static Backend defaultBackend(Device device) {
        return device.isCuda() ? Backend.NCCL : Backend.GLOO;
    }

    /** Joins the group described by env (blocks until every rank joined, or env's timeout). */
    public static ProcessGroup join(DistEnvironment env, Device device) {
        Backend backend = env.backend().orElse(defaultBackend(device));
        if (backend == Backend.NCCL && !device.isCuda()) {
            throw new DistException("backend nccl runs on CUDA tensors, but the device is " + device + " (use gloo)");
        }
        if (!available(backend)) {
            throw new DistException(backend == Backend.NCCL
                    ? "backend nccl needs a CUDA build of the shim with NCCL; this one has " + (available(Backend.GLOO) ? "gloo only" : "no backend")
                    : "this shim was built without Gloo (install libgloo-dev and rerun native/build.sh): no distributed training");
        }
        MemorySegment h = Rendezvous.join(env, () -> {
            try (Arena arena = Arena.ofConfined()) {
                MemorySegment iface = env.networkInterface().map(arena::allocateFrom).orElse(MemorySegment.NULL);
                MemorySegment prefix = env.agentStorePrefix().map(arena::allocateFrom).orElse(MemorySegment.NULL);
                return DistCheck.handle(at_pg_new(backend.code(), arena.allocateFrom(env.masterAddr()), env.masterPort(), env.rank(),
                        env.worldSize(), iface, env.timeout().toMillis(), prefix));
            }
        }, late -> at_pg_free(late));
        // Gloo here takes CPU tensors only (the shim checks it too); NCCL the CUDA device's.
        return new ProcessGroup(h, env.rank(), env.worldSize(), backend == Backend.NCCL ? device : Device.CPU);
    }

    /** Joins a group of worldSize processes on this host (rank 0 serves the store at 127.0.0.1:port). */
    public static ProcessGroup joinLocal(int rank, int worldSize, int port, Duration timeout) {
        return join(DistEnvironment.local(rank, worldSize, port, timeout), Device.CPU);
    }

    /** This process's rank, 0..size-1. */
    public int rank() {
        return rank;
    }

    /** The number of ranks (the world size). */
    public int size() {
        return size;
    }

    /** The device the group's collectives run on (cpu for gloo). */
    public Device device() {
        return device;
    }

    /** Starts an in-place all-reduce of each tensor (contiguous, on the group's device). */
    public Work allReduceAsync(List<Tensor> tensors, Reduction reduction) {
        try (Arena arena = Arena.ofConfined()) {
            return new Work(DistCheck.handle(at_pg_allreduce(handle(), handles(arena, tensors), tensors.size(), reduction.code())), tensors);
        }
    }

    /** All-reduce and wait. */
    public void allReduce(List<Tensor> tensors, Reduction reduction) {
        try (Work w = allReduceAsync(tensors, reduction)) {
            w.await();
        }
    }

    /** Starts an in-place broadcast of each tensor (contiguous) from rank root. */
    public Work broadcastAsync(List<Tensor> tensors, int root) {
        try (Arena arena = Arena.ofConfined()) {
            return new Work(DistCheck.handle(at_pg_broadcast(handle(), handles(arena, tensors), tensors.size(), root)), tensors);
        }
    }

    /** Broadcasts each tensor from rank root, in place, and waits for it. */
    public void broadcast(List<Tensor> tensors, int root) {
        try (Work w = broadcastAsync(tensors, root)) {
            w.await();
        }
    }

    /** Sums values over the ranks (float64, exact for integers below 2^53). */
    public double[] sum(double... values) {
        if (values.length == 0) return values;
        try (Scope scope = Scope.open()) {  // its tensors are freed on return, whether or not the caller has a scope open
            Tensor t = Tensor.of(values.clone(), values.length);
            Tensor onDevice = device.isCuda() ? t.to(device) : t;
            allReduce(List.of(onDevice), Reduction.SUM);
            return (onDevice == t ? t : onDevice.to(Device.CPU)).toDoubleArray();
        }
    }

    /** Blocks until every rank has reached the barrier. */
    public void barrier() {
        try (Work w = new Work(DistCheck.handle(at_pg_barrier(handle())), List.of())) {
            w.await();
        }
    }

    /** Leaves the group and frees its native resources (Gloo's threads, rank 0's store). Idempotent. */
    @Override
    public void close() {
        MemorySegment h = handle;
        if (h == null) return;
        handle = null;
        at_pg_free(h);
    }

    /** Process groups and work handles alive in this process (leak checks). */
    public static long liveHandles() {
        Torch.init();
        return at_dist_live_handles();
    }

    private MemorySegment handle() {
        if (handle == null) throw new DistException("process group used after it was closed");
        return handle;
    }

    /** The native handle, for this package's other owners of shim objects (the gradient reducer). */
    MemorySegment nativeHandle() {
        return handle();
    }

    private static MemorySegment handles(Arena arena, List<Tensor> tensors) {
        MemorySegment array = arena.allocate(ValueLayout.ADDRESS, Math.max(1, tensors.size()));
        for (int i = 0; i < tensors.size(); i++) array.setAtIndex(ValueLayout.ADDRESS, i, tensors.get(i).handle());
        return array;
    }
}
