package adept.tune;

import adept.dist.ProcessGroup;
import adept.io.data.Batch;
import adept.nn.CausalLM;
import adept.optim.AdamW;
import adept.optim.AdamWSettings;
import adept.optim.Parameter;
import adept.tensor.Tensor;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Stage 2 on one model: the trainable tensors (everything else frozen: requires_grad off, never
 * updated), their units, a split-rate AdamW over them, and the importance refresh that sets per-unit
 * rates. With adaptive off (the uniform-rate baselines) refreshes are not run and every unit trains at
 * the base rate. The model stays the caller's; the optimizer is this object's.
 */
public final class DecoupledTuning implements AutoCloseable {
    private final CausalLM model;
    private final UnitMap units;
    private final RatePolicy policy;
    private final boolean adaptive;
    private final AdamW optimizer;
    private final Map<String, Tensor> trainable;
    private final int firstRecordedLayer;
    private RatePolicy.Assignment assignment;

    /** Stage 2 over model's named trainable tensors: units of granularity, rates by policy (when adaptive), one split-rate AdamW; the other parameters are frozen. */
    public DecoupledTuning(CausalLM model, List<String> trainableNames, Granularity granularity, RatePolicy policy,
                           AdamWSettings settings, boolean adaptive) {
        this.model = model;
        this.policy = policy;
        this.adaptive = adaptive;
        Map<String, Tensor> all = model.namedParameters();
        trainable = new LinkedHashMap<>();
        for (String n : trainableNames) {
            Tensor t = all.get(n);
            if (t == null) throw new IllegalArgumentException("the model has no tensor " + n + " to train");
            trainable.put(n, t);
        }
        if (trainable.isEmpty()) throw new IllegalArgumentException("nothing to train");
        for (var e : all.entrySet()) e.getValue().requiresGrad(trainable.containsKey(e.getKey()));
        units = UnitMap.build(model.config(), trainableNames, granularity);
        List<Parameter> ps = new ArrayList<>();
        for (var e : trainable.entrySet()) ps.add(Parameter.of(e.getKey(), e.getValue()));
        optimizer = new AdamW(ps, settings);
        int lowest = Integer.MAX_VALUE;
        for (String n : trainableNames) {
            int layer = UnitMap.layerOf(n);
            lowest = Math.min(lowest, layer < 0 ? (n.equals("model.embed_tokens.weight") ? -1 : Integer.MAX_VALUE) : layer);
        }
        firstRecordedLayer = lowest == Integer.MAX_VALUE ? model.layers().size() : lowest;
        assignment = policy.assign(new double[units.size()]);
    }

    /** The units whose importance sets the rates. */
    public UnitMap units() {
        return units;
    }

    /** The split-rate optimizer over the trainable tensors. */
    public AdamW optimizer() {
        return optimizer;
    }

    /** True when importance refreshes change the rates (false: uniform rate, adept-no-stage2). */
    public boolean adaptive() {
        return adaptive;
    }

    /** The trainable tensors by Hugging Face name. */
    public Map<String, Tensor> trainable() {
        return trainable;
    }

    /** Layers below this run without autograd history (-1: the embeddings are trained). */
    public int firstRecordedLayer() {
        return firstRecordedLayer;
    }

    /** The number of trainable elements. */
    public long trainableParameters() {
        return optimizer.trainableElements();
    }

    /** The multipliers and frozen flags of the last refresh. */
    public RatePolicy.Assignment assignment() {
        return assignment;
    }

    /** Recomputes unit importance on the probe batches and sets the rates from it; returns the importances. */
    public double[] refresh(List<Batch> probe, int maxBatches) {
        return refresh(probe, maxBatches, null);
    }

    /** As {@link #refresh(List, int)}, the probe batches shared out over group's ranks (null: all here). */
    public double[] refresh(List<Batch> probe, int maxBatches, ProcessGroup group) {
        double[] importance = UnitImportance.compute(model, units, trainable, probe, maxBatches, firstRecordedLayer, group);
        assignment = policy.assign(importance);
        UnitRates.apply(optimizer, units, assignment);
        return importance;
    }

    /** Restores a rate assignment (from a checkpoint) without recomputing importance. */
    public void restoreAssignment(RatePolicy.Assignment restored) {
        assignment = restored;
    }

    /** Mean next-token loss of a packed block batch [B, T] (no padding), with autograd from the first trainable layer. */
    public Tensor loss(Tensor inputIds) {
        Tensor hidden = model.hidden(inputIds, null, firstRecordedLayer);
        return CausalLM.loss(model.head(hidden), inputIds);
    }

    /** One optimizer step at base rate lr from the accumulated gradients, then drops them. */
    public void step(double lr) {
        optimizer.step(lr);
        optimizer.zeroGrad();
    }

    @Override
    public void close() {
        optimizer.close();
    }
}
