package adept.tune;

import adept.parallel.ProcessGroup;
import adept.parallel.Reduction;
import adept.io.data.Batch;
import adept.nn.CausalLM;
import adept.tensor.DType;
import adept.tensor.Scope;
import adept.tensor.Tensor;
import adept.tensor.Torch;
import adept.tensor.Autograd;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * Stage 2, step 1: first-order Taylor importance of every unit for general competence,
 * {@code I(theta) = |theta| * mean over probe batches of |dL_probe/dtheta|}, averaged over the unit's
 * elements. Probe gradients go into side buffers ({@link Autograd#grad}): no .grad field is touched.
 * Each batch's loss is its mean next-token cross-entropy over real target tokens (padding never counts).
 */
public final class UnitImportance {
    private UnitImportance() {}

    /**
     * Importance of each unit of map (in its order), from the first maxBatches probe batches (0 = all).
     * params: the trainable tensors by name; firstTrainableLayer: layers below it run without autograd.
     */
    public static double[] compute(CausalLM model, UnitMap map, Map<String, Tensor> params, List<Batch> probe, int maxBatches,
                                   int firstTrainableLayer) {
        return compute(model, map, params, probe, maxBatches, firstTrainableLayer, null);
    }

    /**
     * Data parallel: each rank of group takes batches rank, rank + N, ... of the first maxBatches, and the
     * gradient magnitude sums are added up over the ranks before the mean, so every rank gets the same
     * importances (the one-process ones up to the order of the additions). group null: all batches here.
     */
    public static double[] compute(CausalLM model, UnitMap map, Map<String, Tensor> params, List<Batch> probe, int maxBatches,
                                   int firstTrainableLayer, ProcessGroup group) {
        int rank = group == null ? 0 : group.rank();
        int ranks = group == null ? 1 : group.size();
        int batches = maxBatches > 0 ? Math.min(maxBatches, probe.size()) : probe.size();
        if (batches == 0) throw new IllegalArgumentException("importance needs at least one probe batch");
        List<String> names = new ArrayList<>(map.shapes().keySet());
        List<Tensor> inputs = new ArrayList<>();
        for (String n : names) {
            Tensor t = params.get(n);
            if (t == null) throw new IllegalArgumentException("no trainable tensor " + n);
            inputs.add(t);
        }
        DType sumType = inputs.get(0).dtype() == DType.FLOAT64 ? DType.FLOAT64 : DType.FLOAT32;
        double[][] rowSums = new double[names.size()][];
        double[][] columnSums = new double[names.size()][];
        try (Scope scope = Scope.open(); var grad = Torch.enableGrad()) {
            List<Tensor> absSums = new ArrayList<>();
            for (Tensor t : inputs) absSums.add(Tensor.zeros(sumType, t.device(), t.shape()));
            for (int b = rank; b < batches; b += ranks) {
                Batch batch = probe.get(b);
                try (Scope step = Scope.open()) {
                    Tensor hidden = model.hidden(batch.inputIds(), batch.attentionMask(), firstTrainableLayer);
                    Tensor loss = model.targetLossSum(hidden, batch.predictingRows(), batch.predictedIds()).div(batch.targetTokens());
                    List<Tensor> grads = Autograd.grad(List.of(loss), inputs, null, false, true);
                    try (var noGrad = Torch.noGrad()) {
                        for (int i = 0; i < inputs.size(); i++) {
                            Tensor g = grads.get(i);
                            if (g != null) absSums.get(i).addInPlace(g.abs().to(sumType), 1);
                        }
                    }
                }
            }
            if (ranks > 1) group.allReduce(absSums, Reduction.SUM);
            try (var noGrad = Torch.noGrad()) {
                for (int i = 0; i < inputs.size(); i++) {
                    Tensor element = inputs.get(i).detach().to(sumType).abs().mul(absSums.get(i)).div(batches);
                    if (element.dim() == 1) {
                        rowSums[i] = element.toDoubleArray();
                    } else {
                        rowSums[i] = element.sum(new long[] {1}, false).toDoubleArray();
                        columnSums[i] = element.sum(new long[] {0}, false).toDoubleArray();
                    }
                }
            }
        }
        java.util.Map<String, Integer> index = new java.util.HashMap<>();
        for (int i = 0; i < names.size(); i++) index.put(names.get(i), i);
        double[] out = new double[map.size()];
        for (int u = 0; u < map.size(); u++) {
            Unit unit = map.units().get(u);
            double sum = 0;
            for (Unit.Slice s : unit.slices()) {
                double[] sums = s.dim() == 0 ? rowSums[index.get(s.tensor())] : columnSums[index.get(s.tensor())];
                for (long j = s.start(); j < s.start() + s.length(); j++) sum += sums[(int) j];
            }
            out[u] = sum / map.elements(unit);
        }
        return out;
    }
}
