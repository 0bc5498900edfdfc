package adept.tensor;

import static adept.bindings.adept_torch_h.*;

import adept.bindings.at_release_fn;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicLong;

/**
 * An owning handle to a libtorch tensor. Data stays in libtorch's storage (CPU or CUDA);
 * nothing is copied between Java and libtorch unless a method says so.
 *
 * <p>Ownership: a tensor made while a {@link Scope} is open belongs to that scope;
 * otherwise the caller owns it and should {@link #close()} it. A tensor nobody closes is
 * freed once unreachable (see {@code FallbackOwner}), later than a scope would. Not
 * thread-safe.
 */
public final class Tensor implements AutoCloseable {
    private MemorySegment handle;
    private long[] shape;
    Scope owner;
    // Set while no scope owns this tensor: frees it if it becomes unreachable unclosed.
    private FallbackOwner.Registration fallback;
    // Bounds the segments asSegment() hands out to this tensor's lifetime.
    private Arena segmentArena;

    private Tensor(MemorySegment handle) {
        this.handle = handle;
    }

    /** Wraps a fresh handle returned by the shim (NULL means failure) and registers it in the current scope. */
    static Tensor wrap(MemorySegment result) {
        Tensor t = new Tensor(Check.handle(result));
        t.adopt();
        return t;
    }

    private void adopt() {
        FallbackOwner.freeQueued();
        Scope scope = Scope.current();
        if (scope != null) {
            scope.add(this);
            return;
        }
        if (FallbackOwner.REQUIRE_SCOPE) {
            MemorySegment h = handle;
            handle = null;
            at_free(h);
            throw new TorchException("tensor made outside any Scope (adept.requireScope is set): open a Scope, or keep() one made inside it");
        }
        giveToFallbackOwner();
    }

    /** Called when no scope owns this tensor any more. */
    void giveToFallbackOwner() {
        if (fallback != null || handle == null) return;
        fallback = FallbackOwner.register(this, handle, storageBytesEstimate(handle));
        if (segmentArena != null) fallback.setSegmentArena(segmentArena);
    }

    private static long storageBytesEstimate(MemorySegment h) {
        long n = at_numel(h);
        long size = at_element_size(h);
        if (n < 0 || size < 0) {
            Check.takeError();
            return 0;
        }
        return n * size;
    }

    /** The native handle; fails if the tensor was freed. */
    public MemorySegment handle() {
        MemorySegment h = handle;
        if (h == null) throw new TorchException("tensor used after it was freed (closed, or its scope ended)");
        return h;
    }

    /** True once {@link #close} (or the owning scope) freed the native handle. */
    public boolean isFreed() {
        return handle == null;
    }

    /** Frees the native handle now; views and other handles of the same storage stay valid. Idempotent. */
    @Override
    public void close() {
        MemorySegment h = handle;
        if (h == null) return;
        handle = null;
        if (fallback != null) {
            fallback.free();  // frees the handle and closes the segment arena, once
            return;
        }
        if (segmentArena != null) segmentArena.close();
        at_free(h);
    }

    /** Takes this tensor out of its scope: the caller now owns it and must close it. */
    public Tensor keep() {
        handle();
        owner = null;
        giveToFallbackOwner();
        return this;
    }

    // ---- creation ----

    /** An uninitialised tensor of the shape. */
    public static Tensor empty(DType dtype, Device device, long... shape) {
        Torch.init();
        return wrap(at_empty(Scratch.get().longs(shape), shape.length, dtype.code(), device.type().code, device.index()));
    }

    /** A tensor of zeros. */
    public static Tensor zeros(DType dtype, Device device, long... shape) {
        Torch.init();
        return wrap(at_zeros(Scratch.get().longs(shape), shape.length, dtype.code(), device.type().code, device.index()));
    }

    /** A CPU float32 tensor of zeros. */
    public static Tensor zeros(long... shape) {
        return zeros(DType.FLOAT32, Device.CPU, shape);
    }

    /** A tensor of ones. */
    public static Tensor ones(DType dtype, Device device, long... shape) {
        Torch.init();
        return wrap(at_ones(Scratch.get().longs(shape), shape.length, dtype.code(), device.type().code, device.index()));
    }

    /** A CPU float32 tensor of ones. */
    public static Tensor ones(long... shape) {
        return ones(DType.FLOAT32, Device.CPU, shape);
    }

    /** A tensor with every element equal to value. */
    public static Tensor full(double value, DType dtype, Device device, long... shape) {
        Torch.init();
        return wrap(at_full(Scratch.get().longs(shape), shape.length, value, dtype.code(), device.type().code, device.index()));
    }

    /** start, start + step, ... up to but excluding end. */
    public static Tensor arange(double start, double end, double step, DType dtype, Device device) {
        Torch.init();
        return wrap(at_arange(start, end, step, dtype.code(), device.type().code, device.index()));
    }

    /** CPU int64 0, 1, ..., end - 1. */
    public static Tensor arange(long end) {
        return arange(0, end, 1, DType.INT64, Device.CPU);
    }

    /** Standard normal samples from libtorch's generator (seed with {@link Torch#manualSeed}). */
    public static Tensor randn(DType dtype, Device device, long... shape) {
        Torch.init();
        return wrap(at_randn(Scratch.get().longs(shape), shape.length, dtype.code(), device.type().code, device.index()));
    }

    /** CPU float32 standard normal samples. */
    public static Tensor randn(long... shape) {
        return randn(DType.FLOAT32, Device.CPU, shape);
    }

    /** Uniform samples in [0, 1). */
    public static Tensor rand(DType dtype, Device device, long... shape) {
        Torch.init();
        return wrap(at_rand(Scratch.get().longs(shape), shape.length, dtype.code(), device.type().code, device.index()));
    }

    /** Integers uniform in [low, high). */
    public static Tensor randint(long low, long high, DType dtype, Device device, long... shape) {
        Torch.init();
        return wrap(at_randint(low, high, Scratch.get().longs(shape), shape.length, dtype.code(), device.type().code, device.index()));
    }

    /** A 0-dimensional tensor holding value. */
    public static Tensor scalar(double value, DType dtype, Device device) {
        Torch.init();
        return wrap(at_scalar_tensor(value, dtype.code(), device.type().code, device.index()));
    }

    /** A CPU float32 tensor holding a copy of the values. */
    public static Tensor of(float[] values, long... shape) {
        Tensor t = empty(DType.FLOAT32, Device.CPU, checkedShape(values.length, shape));
        MemorySegment.copy(values, 0, t.dataSegment(), ValueLayout.JAVA_FLOAT, 0, values.length);
        return t;
    }

    /** A CPU float64 tensor holding a copy of the values (no shape: one dimension). */
    public static Tensor of(double[] values, long... shape) {
        Tensor t = empty(DType.FLOAT64, Device.CPU, checkedShape(values.length, shape));
        MemorySegment.copy(values, 0, t.dataSegment(), ValueLayout.JAVA_DOUBLE, 0, values.length);
        return t;
    }

    /** A CPU int64 tensor holding a copy of the values (no shape: one dimension). */
    public static Tensor of(long[] values, long... shape) {
        Tensor t = empty(DType.INT64, Device.CPU, checkedShape(values.length, shape));
        MemorySegment.copy(values, 0, t.dataSegment(), ValueLayout.JAVA_LONG, 0, values.length);
        return t;
    }

    /** A CPU int32 tensor holding a copy of the values (no shape: one dimension). */
    public static Tensor of(int[] values, long... shape) {
        Tensor t = empty(DType.INT32, Device.CPU, checkedShape(values.length, shape));
        MemorySegment.copy(values, 0, t.dataSegment(), ValueLayout.JAVA_INT, 0, values.length);
        return t;
    }

    private static long[] checkedShape(int length, long[] shape) {
        if (shape.length == 0) return new long[] {length};
        long n = 1;
        for (long d : shape) n *= d;
        if (n != length) {
            throw new TorchException("shape " + Arrays.toString(shape) + " holds " + n + " elements but " + length + " values were given");
        }
        return shape;
    }

    // Keeps Java-owned memory reachable until libtorch frees the storage made over it.
    private static final ConcurrentHashMap<Long, MemorySegment> PINNED = new ConcurrentHashMap<>();
    private static final AtomicLong NEXT_PIN = new AtomicLong(1);
    private static final MemorySegment RELEASE = at_release_fn.allocate(context -> PINNED.remove(context.address()), Arena.global());

    /**
     * A tensor over a native segment's memory, without copying (zero-copy): writes on
     * either side are seen on the other. The segment stays reachable until libtorch frees
     * the storage (all views included). Only memory nobody can free under libtorch is
     * accepted: segments of {@link Arena#ofAuto()}, {@link Arena#global()} or wrapped
     * addresses; a confined or shared arena could be closed while the tensor lives (a crash),
     * so its segments are refused: use {@link #copyOf} for them.
     */
    public static Tensor fromSegment(MemorySegment segment, DType dtype, long... shape) {
        Torch.init();
        if (!segment.isNative()) throw new TorchException("fromSegment needs a native (off-heap) segment, not a heap segment");
        if (!segment.scope().isAlive()) throw new TorchException("fromSegment: the segment's arena is already closed");
        if (isExplicitlyClosable(segment.scope())) {
            throw new TorchException("fromSegment: the segment's arena (confined or shared) can be closed while the tensor lives;"
                    + " allocate it with Arena.ofAuto() or Arena.global(), or use Tensor.copyOf");
        }
        long n = 1;
        for (long d : shape) {
            if (d < 0) throw new TorchException("negative dimension in shape " + Arrays.toString(shape));
            n *= d;
        }
        long needed = n * dtype.byteSize();
        if (needed > segment.byteSize()) {
            throw new TorchException("shape " + Arrays.toString(shape) + " of " + dtype + " needs " + needed
                    + " bytes but the segment has " + segment.byteSize());
        }
        if (segment.address() % dtype.byteSize() != 0) throw new TorchException("segment address is not aligned for " + dtype);
        long pin = NEXT_PIN.getAndIncrement();
        PINNED.put(pin, segment);
        MemorySegment result = at_from_blob(segment, Scratch.get().longs(shape), shape.length, MemorySegment.NULL,
                dtype.code(), Device.CPU.type().code, 0, RELEASE, MemorySegment.ofAddress(pin));
        if (result.address() == 0) PINNED.remove(pin);
        return wrap(result);
    }

    // The public API cannot ask whether a scope can be closed; these are the JDK's closable sessions.
    private static boolean isExplicitlyClosable(MemorySegment.Scope scope) {
        String name = scope.getClass().getSimpleName();
        return name.equals("ConfinedSession") || name.equals("SharedSession");
    }

    /** A CPU tensor holding a copy of the segment's first elements (any segment, heap or native). */
    public static Tensor copyOf(MemorySegment segment, DType dtype, long... shape) {
        long n = 1;
        for (long d : shape) {
            if (d < 0) throw new TorchException("negative dimension in shape " + Arrays.toString(shape));
            n *= d;
        }
        long needed = n * dtype.byteSize();
        if (needed > segment.byteSize()) {
            throw new TorchException("shape " + Arrays.toString(shape) + " of " + dtype + " needs " + needed
                    + " bytes but the segment has " + segment.byteSize());
        }
        Tensor t = empty(dtype, Device.CPU, shape);
        if (needed > 0) MemorySegment.copy(segment, 0, t.dataSegment(), 0, needed);
        return t;
    }

    /** Pinned segments not yet released by libtorch (for tests). */
    static int pinnedSegments() {
        return PINNED.size();
    }

    // ---- metadata ----

    /** The sizes of every dimension (a copy; cached after the first call). */
    public long[] shape() {
        return shapeRef().clone();
    }

    private long[] shapeRef() {
        long[] s = shape;
        if (s == null) {
            MemorySegment h = handle();
            int dim = Check.status(at_dim(h));
            MemorySegment out = Scratch.get().longsOut(dim);
            Check.status(at_sizes(h, out));
            s = out.asSlice(0, dim * 8L).toArray(ValueLayout.JAVA_LONG);
            shape = s;
        }
        return s;
    }

    /** The number of dimensions. */
    public int dim() {
        return shapeRef().length;
    }

    /** Size of one dimension; negative dims count from the end. */
    public long size(int dim) {
        long[] s = shapeRef();
        int d = dim < 0 ? dim + s.length : dim;
        if (d < 0 || d >= s.length) throw new TorchException("dimension " + dim + " out of range for shape " + Arrays.toString(s));
        return s[d];
    }

    /** The number of elements. */
    public long numel() {
        long n = 1;
        for (long d : shapeRef()) n *= d;
        return n;
    }

    /** The stride of every dimension, in elements. */
    public long[] strides() {
        MemorySegment h = handle();
        int dim = dim();
        MemorySegment out = Scratch.get().longsOut(dim);
        Check.status(at_strides(h, out));
        return out.asSlice(0, dim * 8L).toArray(ValueLayout.JAVA_LONG);
    }

    /** The element type. */
    public DType dtype() {
        return DType.fromCode(Check.status(at_scalar_type(handle())));
    }

    /** The device holding the storage. */
    public Device device() {
        MemorySegment h = handle();
        return Device.of(Check.status(at_device_type(h)), Check.status(at_device_index(h)));
    }

    /** True when the elements lie in row-major order without gaps. */
    public boolean isContiguous() {
        return Check.status(at_is_contiguous(handle())) == 1;
    }

    /** Address of the first element in device memory (0 for a tensor without elements). */
    public long dataPointer() {
        if (numel() == 0) return 0;
        return Check.handle(at_data_ptr(handle())).address();
    }

    /**
     * The CPU storage this tensor views, as a segment (zero-copy): from the first element
     * to the last one the strides reach. The segment is valid while this tensor is open:
     * once it is closed (or its scope ends) access throws IllegalStateException instead of
     * reading freed memory.
     */
    public MemorySegment asSegment() {
        if (device().isCuda()) throw new TorchException("asSegment needs a CPU tensor; this one is on " + device());
        MemorySegment raw = dataSegment();
        Arena arena = segmentArena;
        if (arena == null) {
            arena = Arena.ofShared();  // shared: the tensor may be closed on another thread (the cleaner's)
            segmentArena = arena;
            if (fallback != null) fallback.setSegmentArena(arena);
        }
        return raw.reinterpret(arena, null);
    }

    private MemorySegment dataSegment() {
        long[] s = shapeRef();
        long[] st = strides();
        long extent = 1;
        for (int i = 0; i < s.length; i++) {
            if (s[i] == 0) {
                extent = 0;
                break;
            }
            extent += (s[i] - 1) * st[i];
        }
        if (extent == 0) return MemorySegment.NULL;
        long bytes = extent * Check.count(at_element_size(handle()));
        return MemorySegment.ofAddress(dataPointer()).reinterpret(bytes);
    }

    // ---- reading values (copies) ----

    private static final java.util.concurrent.atomic.LongAdder HOST_READS = new java.util.concurrent.atomic.LongAdder();

    /**
     * How many times values were read from tensors into Java so far, by any thread ({@link #item}, {@link #getDouble},
     * {@code to...Array}): each read of a CUDA tensor waits for the device, so a training step that should make no host
     * round trip is checked by this count not moving.
     */
    public static long hostReads() {
        return HOST_READS.sum();
    }

    /** The value of a one-element tensor. */
    public double item() {
        HOST_READS.increment();
        MemorySegment out = Scratch.get().longsOut(1);
        Check.status(at_item(handle(), out));
        return out.get(ValueLayout.JAVA_DOUBLE, 0);
    }

    /** One element, as double; reads device memory in place on CPU. */
    public double getDouble(long... index) {
        HOST_READS.increment();
        return readDouble(index);
    }

    private double readDouble(long... index) {
        long[] s = shapeRef();
        if (index.length != s.length) {
            throw new TorchException("index " + Arrays.toString(index) + " has " + index.length + " dims but shape is " + Arrays.toString(s));
        }
        if (device().isCuda()) {
            try (Scope scope = Scope.open()) {  // as the array readers: the copy is freed here, with or without the caller's scope
                return to(Device.CPU).readDouble(index);
            }
        }
        long[] st = strides();
        long offset = 0;
        for (int i = 0; i < s.length; i++) {
            if (index[i] < 0 || index[i] >= s[i]) {
                throw new TorchException("index " + Arrays.toString(index) + " out of bounds for shape " + Arrays.toString(s));
            }
            offset += index[i] * st[i];
        }
        MemorySegment data = MemorySegment.ofAddress(dataPointer()).reinterpret(Long.MAX_VALUE);
        return readElement(data, offset, dtype());
    }

    private static double readElement(MemorySegment data, long index, DType dtype) {
        return switch (dtype) {
            case FLOAT32 -> data.getAtIndex(ValueLayout.JAVA_FLOAT_UNALIGNED, index);
            case FLOAT64 -> data.getAtIndex(ValueLayout.JAVA_DOUBLE_UNALIGNED, index);
            case INT64 -> data.getAtIndex(ValueLayout.JAVA_LONG_UNALIGNED, index);
            case INT32 -> data.getAtIndex(ValueLayout.JAVA_INT_UNALIGNED, index);
            case INT16 -> data.getAtIndex(ValueLayout.JAVA_SHORT_UNALIGNED, index);
            case INT8 -> data.get(ValueLayout.JAVA_BYTE, index);
            case UINT8 -> Byte.toUnsignedInt(data.get(ValueLayout.JAVA_BYTE, index));
            case BOOL -> data.get(ValueLayout.JAVA_BYTE, index) != 0 ? 1 : 0;
            case FLOAT16 -> Float.float16ToFloat(data.getAtIndex(ValueLayout.JAVA_SHORT_UNALIGNED, index));
            case BFLOAT16 -> Float.intBitsToFloat((data.getAtIndex(ValueLayout.JAVA_SHORT_UNALIGNED, index) & 0xffff) << 16);
        };
    }

    /** All elements in row-major order, converted to float32 (a copy). */
    public float[] toFloatArray() {
        HOST_READS.increment();
        try (Scope scope = Scope.open()) {
            Tensor t = to(DType.FLOAT32, Device.CPU).contiguous();
            return t.dataSegment().toArray(ValueLayout.JAVA_FLOAT);
        }
    }

    /** A copy of every element as float64, in row-major order (moved to the CPU first). */
    public double[] toDoubleArray() {
        HOST_READS.increment();
        try (Scope scope = Scope.open()) {
            Tensor t = to(DType.FLOAT64, Device.CPU).contiguous();
            return t.dataSegment().toArray(ValueLayout.JAVA_DOUBLE);
        }
    }

    /** A copy of every element as int64, in row-major order (moved to the CPU first). */
    public long[] toLongArray() {
        HOST_READS.increment();
        try (Scope scope = Scope.open()) {
            Tensor t = to(DType.INT64, Device.CPU).contiguous();
            return t.dataSegment().toArray(ValueLayout.JAVA_LONG);
        }
    }

    // ---- copies and moves ----

    /** This tensor as dtype on device; the same storage (a new handle) when both already match, as torch's {@code to}. */
    public Tensor to(DType dtype, Device device) {
        return wrap(at_to(handle(), dtype.code(), device.type().code, device.index(), 0));
    }

    /** {@link #to(DType, Device)} on this tensor's device. */
    public Tensor to(DType dtype) {
        return to(dtype, device());
    }

    /** {@link #to(DType, Device)} keeping this tensor's dtype. */
    public Tensor to(Device device) {
        return to(dtype(), device);
    }

    /** A copy with storage of its own (autograd records the copy). */
    public Tensor clone() {
        return wrap(at_clone(handle()));
    }

    /** A new handle to the same storage, cut from the autograd graph. */
    public Tensor detach() {
        return wrap(at_detach(handle()));
    }

    /** A new handle to the same storage and autograd history. */
    public Tensor shallowClone() {
        return wrap(at_shallow_clone(handle()));
    }

    /** This tensor in row-major layout: itself (a new handle) when already contiguous, else a copy. */
    public Tensor contiguous() {
        return wrap(at_contiguous(handle()));
    }

    /** Copies src into this tensor in place (broadcasting, converting dtype and device). */
    public Tensor copyFrom(Tensor src) {
        Check.status(at_copy_(handle(), src.handle()));
        return this;
    }

    // ---- views and layout ----

    /** The same elements in a new shape: a view when the layout allows, else a copy; one size may be -1. */
    public Tensor reshape(long... shape) {
        return wrap(at_reshape(handle(), Scratch.get().longs(shape), shape.length));
    }

    /** A view with a new shape over the same storage; fails where the strides do not allow one. */
    public Tensor view(long... shape) {
        return wrap(at_view(handle(), Scratch.get().longs(shape), shape.length));
    }

    /** A view with two dimensions swapped. */
    public Tensor transpose(long dim0, long dim1) {
        return wrap(at_transpose(handle(), dim0, dim1));
    }

    /** A view with the dimensions reordered. */
    public Tensor permute(long... dims) {
        return wrap(at_permute(handle(), Scratch.get().longs(dims), dims.length));
    }

    /** A view of length entries of dim from start. */
    public Tensor narrow(long dim, long start, long length) {
        return wrap(at_narrow(handle(), dim, start, length));
    }

    /** A view of dim's entries start, start + step, ... before end. */
    public Tensor slice(long dim, long start, long end, long step) {
        return wrap(at_slice(handle(), dim, start, end, step));
    }

    /** A view of one entry of dim, that dimension removed. */
    public Tensor select(long dim, long index) {
        return wrap(at_select(handle(), dim, index));
    }

    /** The entries of dim listed by the int64 index (a copy). */
    public Tensor indexSelect(long dim, Tensor index) {
        return wrap(at_index_select(handle(), dim, index.handle()));
    }

    /** Along dim, the element each entry of index names (torch.gather). */
    public Tensor gather(long dim, Tensor index) {
        return wrap(at_gather(handle(), dim, index.handle()));
    }

    /** The tensors joined along an existing dimension. */
    public static Tensor cat(List<Tensor> tensors, long dim) {
        Torch.init();
        return wrap(at_cat(Scratch.get().handles(0, tensors), tensors.size(), dim));
    }

    /** The tensors (of one shape) joined along a new dimension. */
    public static Tensor stack(List<Tensor> tensors, long dim) {
        Torch.init();
        return wrap(at_stack(Scratch.get().handles(0, tensors), tensors.size(), dim));
    }

    /** A broadcast view to shape (size-1 dims repeated without copying; -1 keeps a size). */
    public Tensor expand(long... shape) {
        return wrap(at_expand(handle(), Scratch.get().longs(shape), shape.length));
    }

    /** A view with a size-1 dimension inserted at dim. */
    public Tensor unsqueeze(long dim) {
        return wrap(at_unsqueeze(handle(), dim));
    }

    /** A view without dim when its size is 1. */
    public Tensor squeeze(long dim) {
        return wrap(at_squeeze_dim(handle(), dim));
    }

    /** Dimensions startDim..endDim merged into one. */
    public Tensor flatten(long startDim, long endDim) {
        return wrap(at_flatten(handle(), startDim, endDim));
    }

    /** Every entry of dim repeated repeats times in place (torch.repeat_interleave). */
    public Tensor repeatInterleave(long repeats, long dim) {
        return wrap(at_repeat_interleave(handle(), repeats, dim));
    }

    /** The lower triangle of the last two dims (above the diagonal-th diagonal set to 0). */
    public Tensor tril(long diagonal) {
        return wrap(at_tril(handle(), diagonal));
    }

    /** The upper triangle of the last two dims (below the diagonal-th diagonal set to 0). */
    public Tensor triu(long diagonal) {
        return wrap(at_triu(handle(), diagonal));
    }

    // ---- elementwise ----

    /** this + other, elementwise with broadcasting. */
    public Tensor add(Tensor other) {
        return wrap(at_add(handle(), other.handle(), 1.0));
    }

    /** this + alpha * other */
    public Tensor add(Tensor other, double alpha) {
        return wrap(at_add(handle(), other.handle(), alpha));
    }

    /** this - other, elementwise with broadcasting. */
    public Tensor sub(Tensor other) {
        return wrap(at_sub(handle(), other.handle(), 1.0));
    }

    /** this * other, elementwise with broadcasting. */
    public Tensor mul(Tensor other) {
        return wrap(at_mul(handle(), other.handle()));
    }

    /** this / other, elementwise with broadcasting (true division). */
    public Tensor div(Tensor other) {
        return wrap(at_div(handle(), other.handle()));
    }

    /** this raised to exponent, elementwise with broadcasting. */
    public Tensor pow(Tensor exponent) {
        return wrap(at_pow(handle(), exponent.handle()));
    }

    /** The larger of this and other, elementwise. */
    public Tensor maximum(Tensor other) {
        return wrap(at_maximum(handle(), other.handle()));
    }

    /** The smaller of this and other, elementwise. */
    public Tensor minimum(Tensor other) {
        return wrap(at_minimum(handle(), other.handle()));
    }

    /** this + value. */
    public Tensor add(double value) {
        return wrap(at_add_scalar(handle(), value));
    }

    /** this * value. */
    public Tensor mul(double value) {
        return wrap(at_mul_scalar(handle(), value));
    }

    /** this / value. */
    public Tensor div(double value) {
        return wrap(at_div_scalar(handle(), value));
    }

    /** this raised to exponent. */
    public Tensor pow(double exponent) {
        return wrap(at_pow_scalar(handle(), exponent));
    }

    /** Every element limited to [min, max]. */
    public Tensor clamp(double min, double max) {
        return wrap(at_clamp(handle(), min, max));
    }

    /** Bool: this == other, elementwise. */
    public Tensor eq(Tensor other) {
        return wrap(at_eq(handle(), other.handle()));
    }

    /** Bool: this != other, elementwise. */
    public Tensor ne(Tensor other) {
        return wrap(at_ne(handle(), other.handle()));
    }

    /** Bool: this &lt; other, elementwise. */
    public Tensor lt(Tensor other) {
        return wrap(at_lt(handle(), other.handle()));
    }

    /** Bool: this &gt; other, elementwise. */
    public Tensor gt(Tensor other) {
        return wrap(at_gt(handle(), other.handle()));
    }

    /** Bool: this == value, elementwise. */
    public Tensor eq(double value) {
        return wrap(at_eq_scalar(handle(), value));
    }

    /** condition ? a : b, elementwise. */
    public static Tensor where(Tensor condition, Tensor a, Tensor b) {
        return wrap(at_where(condition.handle(), a.handle(), b.handle()));
    }

    /** A copy with value where the bool mask (broadcast) is true. */
    public Tensor maskedFill(Tensor mask, double value) {
        return wrap(at_masked_fill(handle(), mask.handle(), value));
    }

    /** -this. */
    public Tensor neg() {
        return wrap(at_neg(handle()));
    }

    /** |this|, elementwise. */
    public Tensor abs() {
        return wrap(at_abs(handle()));
    }

    /** e to the power of each element. */
    public Tensor exp() {
        return wrap(at_exp(handle()));
    }

    /** Natural logarithm of each element. */
    public Tensor log() {
        return wrap(at_log(handle()));
    }

    /** Square root of each element. */
    public Tensor sqrt() {
        return wrap(at_sqrt(handle()));
    }

    /** 1 / sqrt of each element. */
    public Tensor rsqrt() {
        return wrap(at_rsqrt(handle()));
    }

    /** Each element squared. */
    public Tensor square() {
        return wrap(at_square(handle()));
    }

    /** 1 / each element. */
    public Tensor reciprocal() {
        return wrap(at_reciprocal(handle()));
    }

    /** Sine of each element. */
    public Tensor sin() {
        return wrap(at_sin(handle()));
    }

    /** Cosine of each element. */
    public Tensor cos() {
        return wrap(at_cos(handle()));
    }

    /** Hyperbolic tangent of each element. */
    public Tensor tanh() {
        return wrap(at_tanh(handle()));
    }

    /** 1 / (1 + e^-x) of each element. */
    public Tensor sigmoid() {
        return wrap(at_sigmoid(handle()));
    }

    /** max(x, 0) of each element. */
    public Tensor relu() {
        return wrap(at_relu(handle()));
    }

    /** x * sigmoid(x) of each element (SwiGLU's activation). */
    public Tensor silu() {
        return wrap(at_silu(handle()));
    }

    /** GELU of each element (the exact, erf form). */
    public Tensor gelu() {
        return wrap(at_gelu(handle()));
    }

    /** GELU with the tanh approximation (PyTorch's approximate="tanh"; Gemma's gelu_pytorch_tanh). */
    public Tensor geluTanh() {
        return wrap(at_gelu_tanh(handle()));
    }

    /** -1, 0 or 1 by the sign of each element. */
    public Tensor sign() {
        return wrap(at_sign(handle()));
    }

    // ---- linear algebra ----

    /** Matrix product with torch.matmul's broadcasting (vectors, batches). */
    public Tensor matmul(Tensor other) {
        return wrap(at_matmul(handle(), other.handle()));
    }

    /** Product of two 2-D matrices. */
    public Tensor mm(Tensor other) {
        return wrap(at_mm(handle(), other.handle()));
    }

    /** Batched product of [B, n, m] and [B, m, p]. */
    public Tensor bmm(Tensor other) {
        return wrap(at_bmm(handle(), other.handle()));
    }

    /** beta * this + alpha * (a @ b), batched matrix products over the first dim; this broadcasts. */
    public Tensor baddbmm(Tensor a, Tensor b, double beta, double alpha) {
        return wrap(at_baddbmm(handle(), a.handle(), b.handle(), beta, alpha));
    }

    /** this @ weight^T + bias; bias may be null. */
    public Tensor linear(Tensor weight, Tensor bias) {
        return wrap(at_linear(handle(), weight.handle(), bias == null ? MemorySegment.NULL : bias.handle()));
    }

    /** Outer product of two vectors. */
    public Tensor outer(Tensor other) {
        return wrap(at_outer(handle(), other.handle()));
    }

    // ---- reductions ----

    /** The sum of all elements (0-dimensional). */
    public Tensor sum() {
        return wrap(at_sum(handle()));
    }

    /** The mean of all elements (0-dimensional). */
    public Tensor mean() {
        return wrap(at_mean(handle()));
    }

    /** Sums over dims (keepDim: they stay, with size 1). */
    public Tensor sum(long[] dims, boolean keepDim) {
        return wrap(at_sum_dims(handle(), Scratch.get().longs(dims), dims.length, keepDim ? 1 : 0));
    }

    /** Means over dims (keepDim: they stay, with size 1). */
    public Tensor mean(long[] dims, boolean keepDim) {
        return wrap(at_mean_dims(handle(), Scratch.get().longs(dims), dims.length, keepDim ? 1 : 0));
    }

    /** The maximum along dim. */
    public Tensor amax(long dim, boolean keepDim) {
        return wrap(at_amax(handle(), dim, keepDim ? 1 : 0));
    }

    /** Int64 index of the maximum along dim. */
    public Tensor argmax(long dim, boolean keepDim) {
        return wrap(at_argmax(handle(), dim, keepDim ? 1 : 0));
    }

    /** log(sum(exp(x))) along dim, computed stably. */
    public Tensor logsumexp(long dim, boolean keepDim) {
        return wrap(at_logsumexp(handle(), dim, keepDim ? 1 : 0));
    }

    /** p-norm over all elements. */
    public Tensor norm(double p) {
        return wrap(at_norm(handle(), p));
    }

    /** The largest element (0-dimensional). */
    public Tensor max() {
        return wrap(at_max_all(handle()));
    }

    /** The smallest element (0-dimensional). */
    public Tensor min() {
        return wrap(at_min_all(handle()));
    }

    // ---- neural-network functions ----

    /** Softmax along dim. */
    public Tensor softmax(long dim) {
        return wrap(at_softmax(handle(), dim));
    }

    /** Log-softmax along dim. */
    public Tensor logSoftmax(long dim) {
        return wrap(at_log_softmax(handle(), dim));
    }

    /** Rows of this (an embedding table [V, H]) picked by integer indices. */
    public Tensor embedding(Tensor indices) {
        return wrap(at_embedding(handle(), indices.handle()));
    }

    /** Bool [n, n], true where position i may attend to j ({@code j <= i}). */
    public static Tensor causalMask(long n, Device device) {
        Torch.init();
        return wrap(at_causal_mask(n, device.type().code, device.index()));
    }

    /** How a loss combines its per-element values. */
    public enum Reduction {
        NONE,
        MEAN,
        SUM
    }

    /** The target id that losses skip (PyTorch's ignore_index default): padding, prompt tokens. */
    public static final long IGNORE_INDEX = -100;

    /** Cross-entropy of logits [N, C] against int64 targets [N]; targets equal to ignoreIndex do not count. */
    public Tensor crossEntropy(Tensor targets, long ignoreIndex, Reduction reduction) {
        return wrap(at_cross_entropy(handle(), targets.handle(), ignoreIndex, reduction.ordinal()));
    }

    /**
     * The summed cross-entropy of these logits [N, V] against targets [N] (rows whose target is ignoreIndex count 0)
     * and its gradient with respect to the logits (softmax minus one-hot), from one log-softmax and in-place passes;
     * no autograd graph. Returns {loss (0-dim), gradient [N, V]}, both owned by the caller.
     */
    public Tensor[] crossEntropySumAndGradient(Tensor targets, long ignoreIndex) {
        MemorySegment out = Scratch.get().pointers(3, 1);
        Tensor loss = wrap(at_softmax_cross_entropy(handle(), targets.handle(), ignoreIndex, out));
        return new Tensor[] {loss, wrap(out.getAtIndex(ValueLayout.ADDRESS, 0))};
    }

    /** Mean cross-entropy, targets equal to -100 ignored (as torch's default). */
    public Tensor crossEntropy(Tensor targets) {
        return crossEntropy(targets, IGNORE_INDEX, Reduction.MEAN);
    }

    /** softmax(q k^T * scale + mask) v over the last two dims; {@code scale <= 0} means 1/sqrt(head_dim). mask may be null. */
    public static Tensor scaledDotProductAttention(Tensor q, Tensor k, Tensor v, Tensor mask, boolean causal, double scale) {
        return wrap(at_scaled_dot_product_attention(q.handle(), k.handle(), v.handle(),
                mask == null ? MemorySegment.NULL : mask.handle(), causal ? 1 : 0, scale));
    }

    /** silu(this) * up, SwiGLU's product: one fused pass each way on CPU float32 (contiguous, one shape). */
    public Tensor siluMul(Tensor up) {
        return wrap(at_silu_mul(handle(), up.handle()));
    }

    /** x / rms(x) * weight over the last dimension, computed in at least float32. */
    public Tensor rmsNorm(Tensor weight, double eps) {
        return wrap(at_rms_norm(handle(), weight.handle(), eps));
    }

    /**
     * Rotary embedding of this [B, heads, T, D] by cos / sin tables [T, D]: this * cos + rotate_half(this) * sin, with
     * rotate_half(x) = [-x2, x1] (Hugging Face's form); one fused pass each way on CPU float32.
     */
    public Tensor rotary(Tensor cos, Tensor sin) {
        return wrap(at_rotary(handle(), cos.handle(), sin.handle()));
    }

    /**
     * Causal softmax attention of q [B, H, T, D] over k, v [B, G, T, D] (H a multiple of G; grouped-query heads share
     * their key/value head), softmax(q k^T * scale with future keys hidden) v, returned as [B, T, H * D]: one blocked
     * kernel each way on CPU float32 (see {@link #causalAttentionAvailable()}); rows of q, k, v need a unit stride.
     */
    public static Tensor causalAttention(Tensor q, Tensor k, Tensor v, double scale) {
        return causalAttention(q, k, v, null, scale);
    }

    /**
     * As {@link #causalAttention(Tensor, Tensor, Tensor, double)} for a right-padded batch: keyLengths (CPU int64 [B],
     * each 1 .. T) holds each sequence's token count, and no query attends to a key at or past it (padding positions
     * attend to all the sequence's tokens, as under Hugging Face's padding mask); null: no padding.
     */
    public static Tensor causalAttention(Tensor q, Tensor k, Tensor v, Tensor keyLengths, double scale) {
        return wrap(at_causal_attention(q.handle(), k.handle(), v.handle(), keyLengths == null ? MemorySegment.NULL : keyLengths.handle(), scale));
    }

    private static final class CausalAttentionSupport {
        static final boolean AVAILABLE = available();

        private static boolean available() {
            Torch.init();
            return at_causal_attention_available() != 0;
        }
    }

    /** Whether {@link #causalAttention} can run here: it needs the OpenBLAS that Debian's libtorch loads. */
    public static boolean causalAttentionAvailable() {
        return CausalAttentionSupport.AVAILABLE;
    }

    /** Elements zeroed with probability p and the rest scaled by 1 / (1 - p) when train; this unchanged otherwise. */
    public Tensor dropout(double p, boolean train) {
        return wrap(at_dropout(handle(), p, train ? 1 : 0));
    }

    // ---- in place (return this) ----

    /** this += alpha * other, in place; returns this. */
    public Tensor addInPlace(Tensor other, double alpha) {
        Check.status(at_add_(handle(), other.handle(), alpha));
        return this;
    }

    /** this *= other, in place; returns this. */
    public Tensor mulInPlace(Tensor other) {
        Check.status(at_mul_(handle(), other.handle()));
        return this;
    }

    /** this *= value, in place; returns this. */
    public Tensor mulInPlace(double value) {
        Check.status(at_mul_scalar_(handle(), value));
        return this;
    }

    /** this += value, in place; returns this. */
    public Tensor addInPlace(double value) {
        Check.status(at_add_scalar_(handle(), value));
        return this;
    }

    /** this += value * a * b */
    public Tensor addcmulInPlace(Tensor a, Tensor b, double value) {
        Check.status(at_addcmul_(handle(), a.handle(), b.handle(), value));
        return this;
    }

    /** this += value * a / b */
    public Tensor addcdivInPlace(Tensor a, Tensor b, double value) {
        Check.status(at_addcdiv_(handle(), a.handle(), b.handle(), value));
        return this;
    }

    /** this += weight * (end - this) */
    public Tensor lerpInPlace(Tensor end, double weight) {
        Check.status(at_lerp_(handle(), end.handle(), weight));
        return this;
    }

    /** Square root of every element, in place; returns this. */
    public Tensor sqrtInPlace() {
        Check.status(at_sqrt_(handle()));
        return this;
    }

    /** Every element limited to [min, max], in place; returns this. */
    public Tensor clampInPlace(double min, double max) {
        Check.status(at_clamp_(handle(), min, max));
        return this;
    }

    /** Sets every element to 0, in place; returns this. */
    public Tensor zero() {
        Check.status(at_zero_(handle()));
        return this;
    }

    /** Sets every element to value, in place; returns this. */
    public Tensor fill(double value) {
        Check.status(at_fill_(handle(), value));
        return this;
    }

    // ---- autograd ----

    /** Turns gradient recording on or off for this leaf; returns this. */
    public Tensor requiresGrad(boolean requiresGrad) {
        Check.status(at_set_requires_grad(handle(), requiresGrad ? 1 : 0));
        return this;
    }

    /** True when autograd records operations on this tensor. */
    public boolean requiresGrad() {
        return Check.status(at_requires_grad(handle())) == 1;
    }

    /** True for a tensor autograd did not compute (parameters, inputs): backward fills its .grad. */
    public boolean isLeaf() {
        return Check.status(at_is_leaf(handle())) == 1;
    }

    /** Backpropagates from this scalar, accumulating into the .grad of leaves. */
    public void backward() {
        Check.status(at_backward(handle(), MemorySegment.NULL, 0, 0));
    }

    /** Backpropagates gradOutput (null: 1 for a scalar) into the leaves' .grad; retainGraph keeps the graph for another backward. */
    public void backward(Tensor gradOutput, boolean retainGraph) {
        Check.status(at_backward(handle(), gradOutput == null ? MemorySegment.NULL : gradOutput.handle(), retainGraph ? 1 : 0, 0));
    }

    /** A new handle to this tensor's .grad (shares storage), or null when it has none. */
    public Tensor grad() {
        MemorySegment g = at_grad(handle());
        if (g.address() == 0) {
            String error = Check.takeError();
            if (error != null) throw new TorchException(error);
            return null;
        }
        Tensor t = new Tensor(g);
        t.adopt();
        return t;
    }

    /**
     * Points this tensor (same handle, same autograd identity) at data's storage, as Python's
     * {@code p.data = data}: an optimizer keeps parameters as views of one flat buffer this way.
     */
    public void setData(Tensor data) {
        Check.status(at_set_data(handle(), data.handle()));
    }

    /** Sets .grad (null drops it). */
    public void setGrad(Tensor grad) {
        Check.status(at_set_grad(handle(), grad == null ? MemorySegment.NULL : grad.handle()));
    }

    static Tensor wrapNullable(MemorySegment h) {
        if (h.address() == 0) return null;
        Tensor t = new Tensor(h);
        t.adopt();
        return t;
    }

    @Override
    public String toString() {
        if (handle == null) return "Tensor[freed]";
        return "Tensor[" + dtype() + ", " + device() + ", shape=" + Arrays.toString(shapeRef()) + "]";
    }
}
