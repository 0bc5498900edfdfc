package adept.optim;

import adept.tensor.Tensor;
import java.util.Arrays;
import java.util.List;
import java.util.Map;

/**
 * An optimizer whose rate is the scheduled base rate times a per-element multiplier, set per unit: a whole
 * tensor, or a range of rows (dim 0) or columns (dim 1) of one. Frozen (masked) elements do not move at
 * all: no update, no moment change, no weight decay, and their step count does not advance. The method
 * (adept.tune) asks for one through a {@link Factory}; which optimizer it is, the caller picks.
 */
public interface SplitRateOptimizer extends AutoCloseable {
    /** Makes the optimizer over the trainable parameters (e.g. {@code AdamW.factory(settings)}). */
    @FunctionalInterface
    interface Factory {
        /** A new optimizer over parameters (owned by the caller, who closes it). */
        SplitRateOptimizer create(List<Parameter> parameters);
    }

    /** The parameters, in the order their indices refer to. */
    List<Parameter> parameters();

    /** The number of elements the optimizer updates. */
    default long trainableElements() {
        long n = 0;
        for (Parameter p : parameters()) n += p.tensor().numel();
        return n;
    }

    /** The parameters' names and shapes in parameter order: what a checkpoint's optimizer state must match. */
    default String stateLayout() {
        StringBuilder s = new StringBuilder();
        for (Parameter p : parameters()) s.append(p.name()).append(':').append(Arrays.toString(p.tensor().shape())).append(';');
        return s.toString();
    }

    /**
     * The step gradient's flat buffer (views in parameter order; owned by the optimizer): where a caller puts
     * gradients averaged over ranks before {@link #step(double, GradientSource) step(lr, FLAT_BUFFER)}.
     */
    FlatGradient flatGradient();

    /** Multiplier of the base rate for elements [start, start + length) along dim of parameter index. */
    void setMultiplier(int index, int dim, long start, long length, double multiplier);

    /** Freezes (or thaws) elements [start, start + length) along dim of parameter index. */
    void setFrozen(int index, int dim, long start, long length, boolean frozen);

    /** Every multiplier back to value and nothing frozen. */
    void resetRates(double value);

    /** One update from the parameters' .grad (a parameter without one is skipped) at base rate lr. */
    default void step(double lr) {
        step(lr, GradientSource.PARAMETER_GRADS);
    }

    /**
     * One update at base rate lr from the gradients where source says; a parameter without .grad is skipped
     * either way, and with none at all nothing happens.
     */
    void step(double lr, GradientSource source);

    /** The multipliers over every trainable element (frozen ones as 0), from the optimizer's own state. */
    RateStats rateStats();

    /** The global gradient norm (before clipping) of the last step, as a 0-dim device tensor (null before any step). */
    Tensor lastGradNorm();

    /** Drops every parameter's .grad (as set_to_none does). */
    void zeroGrad();

    /** Optimizer state as named tensors (owned by the caller) for a checkpoint. */
    Map<String, Tensor> exportState();

    /** Restores what {@link #exportState} gave; shapes and names must match. */
    void importState(Map<String, Tensor> state);

    @Override
    void close();

    /** The view of whole-parameter-shaped data narrowed to a unit: dim 0 rows or dim 1 columns. */
    static Tensor unitView(Tensor shaped, int dim, long start, long length) {
        if (dim < 0 || dim >= shaped.dim()) {
            throw new IllegalArgumentException("dim " + dim + " out of range for a " + shaped.dim() + "-d parameter");
        }
        return shaped.narrow(dim, start, length);
    }
}
