package adept.optim;

import adept.tensor.Tensor;

/**
 * Everything one {@link AdamWStep} path reads and writes: flat 1-D vectors of the state type in parameter order
 * (decayed parameters first), updated in place, and the scalars that say what kind of step this is.
 *
 * @param params            the weights to update (the master weights for 16-bit parameters)
 * @param grad              the step's gradient; the tensor-op paths clip it in place
 * @param expAvg            first moments
 * @param expAvgSq          second moments
 * @param multiplier        per-element rate multipliers; null when every one is 1 (then multipliersAreOne)
 * @param frozen            bool mask of elements that must not move; null when nothing is frozen
 * @param stepCount         float64 per-element step counts, advanced by the step where active; null on a uniform
 *                          step (every element at {@code uniformSteps}, already counting this one)
 * @param uniformSteps      the shared step count while stepCount is null
 * @param offsets           parameter i spans [offsets[i], offsets[i + 1])
 * @param hasGradient       per parameter: false leaves its elements as they are (no update, no step counted)
 * @param decayedElements   elements [0, decayedElements) take weight decay
 * @param multipliersAreOne every multiplier is 1 (lets the plain arithmetic skip the products)
 * @param clip              the clipping factor min(1, max_norm / (norm + 1e-6)) as a 0-dim tensor; null: no clipping
 */
public record AdamWOperands(Tensor params, Tensor grad, Tensor expAvg, Tensor expAvgSq, Tensor multiplier, Tensor frozen,
                            Tensor stepCount, long uniformSteps, long[] offsets, boolean[] hasGradient, long decayedElements,
                            boolean multipliersAreOne, Tensor clip) {
    /** Every element takes this step at the same count: scalar bias corrections. */
    public boolean uniform() {
        return stepCount == null;
    }

    /** The number of elements. */
    public long total() {
        return offsets[offsets.length - 1];
    }
}
