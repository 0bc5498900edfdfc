package adept.parallel;

import static adept.bindings.adept_torch_h.AT_DIST_GLOO;
import static adept.bindings.adept_torch_h.AT_DIST_NCCL;

import java.util.Locale;

/** Which c10d backend runs the collectives: Gloo (CPU tensors), NCCL (CUDA tensors, CUDA builds of the shim only). */
public enum Backend {
    GLOO,
    NCCL;

    int code() {
        return this == GLOO ? AT_DIST_GLOO() : AT_DIST_NCCL();
    }

    /** The name c10d and torchrun use: gloo or nccl. */
    public String label() {
        return name().toLowerCase(Locale.ROOT);
    }

    /** "gloo" or "nccl"; anything else is a one-line error. */
    public static Backend parse(String text) {
        for (Backend b : values()) if (b.label().equals(text.trim().toLowerCase(Locale.ROOT))) return b;
        throw new DistException("unknown distributed backend '" + text + "' (gloo or nccl)");
    }
}
