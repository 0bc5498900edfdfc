package adept.nn;

import adept.tensor.DType;
import adept.tensor.Tensor;

/**
 * What every layer's attention shares for one batch: the rotary tables and the additive
 * mask (0 where attention is allowed, the dtype's lowest value where a key is in the
 * future or padding, as Hugging Face's eager attention builds it), shaped [B*heads or 1,
 * T, T] to add to batched attention scores. Families with sliding-window layers get a second
 * mask (also hiding keys window or more positions back) and the local layers' rotary tables.
 */
public final class AttentionContext {
    private final Rope rope;
    private final Tensor mask;
    private final Rope localRope;
    private final Tensor slidingMask;
    private final DType dtype;
    private final long positionOffset;
    private final boolean causalOnly;         // the mask hides future keys and nothing else
    private final boolean slidingCausalOnly;  // so does the sliding layers' (the window hides nothing)

    private AttentionContext(Rope rope, Tensor mask, Rope localRope, Tensor slidingMask, DType dtype, long positionOffset,
                             boolean causalOnly, boolean slidingCausalOnly) {
        this.rope = rope;
        this.mask = mask;
        this.localRope = localRope;
        this.slidingMask = slidingMask;
        this.dtype = dtype;
        this.positionOffset = positionOffset;
        this.causalOnly = causalOnly;
        this.slidingCausalOnly = slidingCausalOnly;
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
        return new AttentionContext(rope, mask, localRope == null ? rope : localRope, sliding, dtype, past, false, false);
    }

    /**
     * attentionMask: [B, T] with 1 for real tokens and 0 for padding, or null for none.
     * The mask tensor belongs to the current scope.
     */
    public static AttentionContext build(Rope rope, long length, Tensor attentionMask, DType dtype, adept.tensor.Device device,
                                         int heads) {
        return build(rope, null, 0, length, attentionMask, dtype, device, heads);
    }

    /** As above; window > 0 adds the sliding layers' mask (keys window or more positions back hidden) and rotary tables. */
    public static AttentionContext build(Rope rope, Rope localRope, int window, long length, Tensor attentionMask, DType dtype,
                                         adept.tensor.Device device, int heads) {
        // A mask without padding hides nothing beyond the future: dropped, as Hugging Face's SDPA path does, so the
        // batch takes the causal-only paths (no [B*heads, T, T] mask, the fused CPU attention kernel).
        if (attentionMask != null && attentionMask.dim() == 2 && attentionMask.size(1) == length && attentionMask.numel() > 0
                && attentionMask.min().item() != 0) {
            attentionMask = null;
        }
        double lowest = lowest(dtype);
        Tensor future = Tensor.ones(DType.BOOL, device, length, length).triu(1);
        Tensor causal = Tensor.zeros(dtype, device, 1, 1, length, length).maskedFill(future, lowest);
        Tensor mask = withPadding(causal, attentionMask, length, lowest, heads);
        Tensor sliding = mask;
        boolean windowHides = window > 0 && length > window;  // shorter sequences: the window hides nothing
        if (windowHides) {
            Tensor far = Tensor.ones(DType.BOOL, device, length, length).tril(-window);
            sliding = withPadding(causal.maskedFill(far, lowest), attentionMask, length, lowest, heads);
        }
        boolean causalOnly = attentionMask == null;
        return new AttentionContext(rope, mask, localRope == null ? rope : localRope, sliding, dtype, 0, causalOnly,
                causalOnly && !windowHides);
    }

    private static Tensor withPadding(Tensor mask, Tensor attentionMask, long length, double lowest, int heads) {
        if (attentionMask == null) return mask.view(1, length, length);
        if (attentionMask.dim() != 2 || attentionMask.size(1) != length) {
            throw new ModelException("attention mask must be [batch, " + length + "], got " + java.util.Arrays.toString(attentionMask.shape()));
        }
        long batch = attentionMask.size(0);
        Tensor padding = attentionMask.eq(0).unsqueeze(1).unsqueeze(1);  // [B, 1, 1, T]
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
        return mask;
    }

    /** The mask of a layer of this type. */
    public Tensor mask(LayerType type) {
        return type == LayerType.SLIDING_ATTENTION ? slidingMask : mask;
    }

    /** Whether a layer of this type's mask hides future keys and nothing else (no padding, no window, no cache). */
    public boolean causalOnly(LayerType type) {
        return type == LayerType.SLIDING_ATTENTION ? slidingCausalOnly : causalOnly;
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
