package adept.parallel;

import static adept.bindings.adept_torch_h.AT_DIST_AVG;
import static adept.bindings.adept_torch_h.AT_DIST_SUM;

/** How an all-reduce combines the ranks' tensors. */
public enum Reduction {
    SUM,
    /** The sum divided by the world size (floating-point tensors). */
    AVG;

    int code() {
        return this == SUM ? AT_DIST_SUM() : AT_DIST_AVG();
    }
}
