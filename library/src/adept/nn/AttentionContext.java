package adept.nn;

import adept.tensor.DType;
import adept.tensor.Scope;
import adept.tensor.Tensor;
import java.util.function.Supplier;

/**
 * What every layer's attention shares for one batch: the rotary tables and the additive
 * mask (0 where attention is allowed, the dtype's lowest value where a key is in the
 * future or padding, as Hugging Face's eager attention builds it), shaped [B*heads or 1,
 * T, T] to add to batched attention scores. Families with sliding-window layers get a second
 * mask (also hiding keys window or more positions back) and the local layers' rotary tables.
 */
public final class AttentionContext {
    private final Rope rope;
    private final LazyMask mask;
    private final Rope localRope;
    private final LazyMask slidingMask;
    private final DType dtype;
    private final long positionOffset;
    private final boolean causalOnly;   // the full layers' mask hides future keys and nothing else
    private final Tensor keyLengths;    // a right-padded batch's token counts [B] (CPU int64), or null
    private final boolean windowHides;  // the sliding layers' window hides keys the causal mask shows

    private AttentionContext(Rope rope, LazyMask mask, Rope localRope, LazyMask slidingMask, DType dtype, long positionOffset,
                             boolean causalOnly, Tensor keyLengths, boolean windowHides) {
        this.rope = rope;
        this.mask = mask;
        this.localRope = localRope;
        this.slidingMask = slidingMask;
        this.dtype = dtype;
        this.positionOffset = positionOffset;
        this.causalOnly = causalOnly;
        this.keyLengths = keyLengths;
        this.windowHides = windowHides;
    }

    private static double lowest(DType dtype) {
        return switch (dtype) {
            case FLOAT64 -> -Double.MAX_VALUE;
            case FLOAT32 -> -Float.MAX_VALUE;
            case BFLOAT16 -> -3.3895313892515355e38;
            case FLOAT16 -> -65504.0;
            default -> throw new ModelException("compute dtype must be floating point, got " + dtype);
        };
    }

    /**
     * For newLength tokens following `past` cached ones (incremental decoding, one
     * sequence): new token i may attend to every cached token and to new tokens up to i.
     */
    public static AttentionContext incremental(Rope rope, long past, long newLength, DType dtype, adept.tensor.Device device) {
        return incremental(rope, null, 0, past, newLength, dtype, device);
    }

    /** As above; window > 0 adds the sliding layers' mask and rotary tables (localRope). */
    public static AttentionContext incremental(Rope rope, Rope localRope, int window, long past, long newLength, DType dtype,
                                               adept.tensor.Device device) {
        long total = past + newLength;
        Tensor future = Tensor.ones(DType.BOOL, device, newLength, total).triu(past + 1);
        Tensor mask = Tensor.zeros(dtype, device, 1, newLength, total).maskedFill(future, lowest(dtype));
        Tensor sliding = mask;
        if (window > 0 && total > window) {
            // new token i sits at past + i: keys at or before past + i - window are out of its window
            Tensor far = Tensor.ones(DType.BOOL, device, newLength, total).tril(past - window);
            sliding = mask.maskedFill(far, lowest(dtype));
        }
        return new AttentionContext(rope, new LazyMask(mask), localRope == null ? rope : localRope, new LazyMask(sliding), dtype, past,
                false, null, window > 0 && total > window);
    }

    /**
     * attentionMask: [B, T] with 1 for real tokens and 0 for padding, or null for none.
     * The mask tensors belong to the current scope; a right-padded batch's [B*heads, T, T] mask is made when a layer
     * first asks for it (the fused CPU kernel takes {@link #keyLengths()} instead), into that same scope, which must
     * then still be open.
     */
    public static AttentionContext build(Rope rope, long length, Tensor attentionMask, DType dtype, adept.tensor.Device device,
                                         int heads) {
        return build(rope, null, 0, length, attentionMask, dtype, device, heads);
    }

    /** As above; window > 0 adds the sliding layers' mask (keys window or more positions back hidden) and rotary tables. */
    public static AttentionContext build(Rope rope, Rope localRope, int window, long length, Tensor attentionMask, DType dtype,
                                         adept.tensor.Device device, int heads) {
        long[] counts = attentionMask == null ? null : rightPaddedCounts(attentionMask, length);
        // A mask without padding hides nothing beyond the future: dropped, as Hugging Face's SDPA path does, so the
        // batch takes the causal-only paths (no [B*heads, T, T] mask, the fused CPU attention kernel).
        if (counts != null && java.util.Arrays.stream(counts).allMatch(n -> n == length)) attentionMask = null;
        double lowest = lowest(dtype);
        Tensor future = Tensor.ones(DType.BOOL, device, length, length).triu(1);
        Tensor causal = Tensor.zeros(dtype, device, 1, 1, length, length).maskedFill(future, lowest);
        boolean causalOnly = attentionMask == null;
        Tensor padding = causalOnly ? null : attentionMask.eq(0).unsqueeze(1).unsqueeze(1);  // [B, 1, 1, T]
        Tensor keyLengths = causalOnly || counts == null || device.isCuda() ? null : Tensor.of(counts, counts.length);
        // With right padding the fused kernel needs no [B*heads, T, T] mask: made on first use, if a layer asks.
        Scope owner = Scope.current();
        boolean lazy = keyLengths != null && owner != null;
        LazyMask mask = LazyMask.of(() -> withPadding(causal, padding, length, lowest, heads), lazy ? owner : null);
        LazyMask sliding = mask;
        boolean windowHides = window > 0 && length > window;  // shorter sequences: the window hides nothing
        if (windowHides) {
            Tensor far = Tensor.ones(DType.BOOL, device, length, length).tril(-window);
            Tensor windowed = causal.maskedFill(far, lowest);
            sliding = LazyMask.of(() -> withPadding(windowed, padding, length, lowest, heads), lazy ? owner : null);
        }
        return new AttentionContext(rope, mask, localRope == null ? rope : localRope, sliding, dtype, 0, causalOnly, keyLengths,
                windowHides);
    }

    /** A mask made now, or on first use into the scope the context was built in (owner not null). */
    private static final class LazyMask {
        private final Supplier<Tensor> make;
        private final Scope owner;
        private Tensor made;

        private LazyMask(Tensor made) {
            this.make = null;
            this.owner = null;
            this.made = made;
        }

        private LazyMask(Supplier<Tensor> make, Scope owner) {
            this.make = make;
            this.owner = owner;
        }

        static LazyMask of(Supplier<Tensor> make, Scope owner) {
            return owner == null ? new LazyMask(make.get()) : new LazyMask(make, owner);
        }

        Tensor get() {
            if (made == null) made = owner.adopt(make.get());
            return made;
        }
    }

    /**
     * Each row's token count (nonzero = token) when every row of attentionMask [B, T] is tokens then padding with at
     * least one token (the fused kernel's case; all T: no padding), else null; a one-line error for another shape.
     */
    private static long[] rightPaddedCounts(Tensor attentionMask, long length) {
        if (attentionMask.dim() != 2 || attentionMask.size(1) != length) {
            throw new ModelException("attention mask must be [batch, " + length + "], got " + java.util.Arrays.toString(attentionMask.shape()));
        }
        int batch = Math.toIntExact(attentionMask.size(0));
        if (batch == 0) return null;  // an empty batch: nothing for the kernel to do
        long[] tokens = attentionMask.to(DType.BOOL).to(DType.INT64).contiguous().toLongArray();
        long[] lengths = new long[batch];
        for (int b = 0; b < batch; b++) {
            int row = Math.toIntExact(b * length), n = 0;
            while (n < length && tokens[row + n] != 0) n++;
            for (int t = n; t < length; t++) if (tokens[row + t] != 0) return null;  // padding before a token
            if (n == 0) return null;  // no token: Hugging Face's eager softmax spreads over every key
            lengths[b] = n;
        }
        return lengths;
    }

    private static Tensor withPadding(Tensor mask, Tensor padding, long length, double lowest, int heads) {
        if (padding == null) return mask.view(1, length, length);
        long batch = padding.size(0);
        // Materialised once per batch, not per layer: [B*heads, T, T].
        return mask.maskedFill(padding, lowest).expand(batch, heads, length, length).reshape(batch * heads, length, length);
    }

    /** Position of the first token of this pass (0 unless decoding incrementally). */
    public long positionOffset() {
        return positionOffset;
    }

    /** The rotary embedding of the positions. */
    public Rope rope() {
        return rope;
    }

    /** The additive attention mask: 0 where a query may attend to a key, the dtype's lowest value elsewhere. */
    public Tensor mask() {
        return mask.get();
    }

    /** The mask of a layer of this type. */
    public Tensor mask(LayerType type) {
        return (type == LayerType.SLIDING_ATTENTION ? slidingMask : mask).get();
    }

    /** Whether a layer of this type's mask hides future keys and nothing else (no padding, no window, no cache). */
    public boolean causalOnly(LayerType type) {
        return causalOnly && windowHidesNothing(type);
    }

    /**
     * Whether a layer of this type's mask hides future keys and, at most, the right padding of {@link #keyLengths()}
     * (no window, no cache, no padding before a token): the masks the fused CPU attention kernel applies itself.
     */
    public boolean causalUpToLengths(LayerType type) {
        return (causalOnly || keyLengths != null) && windowHidesNothing(type);
    }

    private boolean windowHidesNothing(LayerType type) {
        return type != LayerType.SLIDING_ATTENTION || !windowHides;
    }

    /** A right-padded batch's token counts [B] (CPU int64; the current scope's), or null: no padding, or not right padding only. */
    public Tensor keyLengths() {
        return keyLengths;
    }

    /** The rotary embedding of a layer of this type. */
    public Rope rope(LayerType type) {
        return type == LayerType.SLIDING_ATTENTION ? localRope : rope;
    }

    /** The dtype attention computes in. */
    public DType dtype() {
        return dtype;
    }
}
