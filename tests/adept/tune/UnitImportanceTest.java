package adept.tune;

import static org.junit.jupiter.api.Assertions.*;

import adept.io.data.Batch;
import adept.nn.CausalLM;
import adept.optim.AdamW;
import adept.optim.AdamWSettings;
import adept.tensor.Autograd;
import adept.tensor.DType;
import adept.tensor.Scope;
import adept.tensor.Tensor;
import adept.tensor.Torch;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.Test;

/** First-order Taylor unit importance on a tiny expanded Qwen3 in float64 (copies at layers 2 and 5). */
class UnitImportanceTest {
    static final AdamWSettings SETTINGS = new AdamWSettings(0.9, 0.999, 1e-8, 0.1, 1.0);

    static List<Batch> probe(long seed, int batches) {
        Random random = new Random(seed);
        List<Batch> probe = new ArrayList<>();
        for (int b = 0; b < batches; b++) probe.add(Stage2Fixture.probeBatch(random, 3, 12));
        return probe;
    }

    /** A few training steps at a large rate, so the copies' o_proj / down_proj are no longer zero. */
    static void train(DecoupledTuning tuning, Random random, int steps) {
        for (int s = 0; s < steps; s++) {
            try (Scope scope = Scope.open()) {
                tuning.loss(Stage2Fixture.block(random, 2, 16)).backward();
                tuning.step(1e-2);
            }
        }
    }

    @Test
    void everyCopyUnitIsExactlyZeroRightAfterExpansion() {
        for (Granularity g : Granularity.values()) {
            try (Scope scope = Scope.open()) {
                Stage2Fixture.Expanded e = Stage2Fixture.expanded(DType.FLOAT64, 11);
                try (CausalLM model = e.model();
                     DecoupledTuning tuning = new DecoupledTuning(model, e.trainable(), g, RatePolicy.CONTINUOUS, AdamW.factory(SETTINGS), true)) {
                    assertEquals(List.of(2, 5), tuning.units().layers());
                    double[] importance = tuning.refresh(probe(1, 3), 0);
                    assertEquals(tuning.units().size(), importance.length);
                    for (int u = 0; u < importance.length; u++) {
                        assertEquals(0.0, importance[u], g + ": " + tuning.units().units().get(u).name() + " right after expansion");
                    }
                    for (double w : tuning.assignment().multipliers()) assertEquals(1.0, w, "uniform rates until importance is informative");
                }
            }
        }
    }

    @Test
    void refreshLeavesTrainingGradientsBitIdentical() {
        try (Scope scope = Scope.open()) {
            Stage2Fixture.Expanded e = Stage2Fixture.expanded(DType.FLOAT64, 12);
            Random random = new Random(2);
            try (CausalLM model = e.model();
                 DecoupledTuning tuning = new DecoupledTuning(model, e.trainable(), Granularity.NEURON, RatePolicy.CONTINUOUS, AdamW.factory(SETTINGS), true)) {
                train(tuning, random, 3);
                tuning.loss(Stage2Fixture.block(random, 2, 16)).backward();
                Map<String, Tensor> before = new java.util.LinkedHashMap<>();
                Map<String, Tensor> weights = new java.util.LinkedHashMap<>();
                for (var t : tuning.trainable().entrySet()) {
                    Tensor g = t.getValue().grad();
                    assertNotNull(g, t.getKey() + " has a training gradient");
                    before.put(t.getKey(), g.clone());
                    weights.put(t.getKey(), t.getValue().detach().clone());
                }
                double[] importance = tuning.refresh(probe(3, 2), 0);
                assertTrue(java.util.Arrays.stream(importance).max().orElseThrow() > 0, "the probe produced gradients");
                for (var t : tuning.trainable().entrySet()) {
                    Tensor g = t.getValue().grad();
                    assertNotNull(g, t.getKey());
                    assertEquals(1.0, g.eq(before.get(t.getKey())).to(DType.FLOAT32).min().item(), t.getKey() + ": .grad changed by the refresh");
                    assertEquals(1.0, t.getValue().detach().eq(weights.get(t.getKey())).to(DType.FLOAT32).min().item(), t.getKey() + " moved");
                }
                // and the step after the refresh uses exactly the training gradient: the same as a step from the snapshot
            }
        }
    }

    /** I_U = mean over the unit's elements of |theta| * mean_b |dL_b/dtheta|, computed here by brute force. */
    static double[] bruteForce(CausalLM model, UnitMap map, Map<String, Tensor> params, List<Batch> probe) {
        List<String> names = new ArrayList<>(map.shapes().keySet());
        List<Tensor> inputs = names.stream().map(params::get).toList();
        double[][] absGradSum = new double[names.size()][];
        for (Batch batch : probe) {
            try (Scope scope = Scope.open(); var grad = Torch.enableGrad()) {
                // every layer recorded, full logits, mean over the labelled targets: an independent path to the same loss
                Tensor loss = CausalLM.loss(model.forward(batch.inputIds(), batch.attentionMask()), batch.labels());
                List<Tensor> grads = Autograd.grad(List.of(loss), inputs, null, false, true);
                for (int i = 0; i < names.size(); i++) {
                    double[] g = grads.get(i) == null ? new double[(int) inputs.get(i).numel()] : grads.get(i).contiguous().toDoubleArray();
                    if (absGradSum[i] == null) absGradSum[i] = new double[g.length];
                    for (int j = 0; j < g.length; j++) absGradSum[i][j] += Math.abs(g[j]);
                }
            }
        }
        double[][] element = new double[names.size()][];
        for (int i = 0; i < names.size(); i++) {
            double[] theta = inputs.get(i).detach().contiguous().toDoubleArray();
            element[i] = new double[theta.length];
            for (int j = 0; j < theta.length; j++) element[i][j] = Math.abs(theta[j]) * (absGradSum[i][j] / probe.size());
        }
        double[] out = new double[map.size()];
        for (int u = 0; u < map.size(); u++) {
            double sum = 0;
            long count = 0;
            for (Unit.Slice s : map.units().get(u).slices()) {
                int i = names.indexOf(s.tensor());
                long[] shape = map.shapes().get(s.tensor());
                long rows = shape[0];
                long cols = shape.length > 1 ? shape[1] : 1;
                for (long r = 0; r < rows; r++) {
                    for (long c = 0; c < cols; c++) {
                        long along = s.dim() == 0 ? r : c;
                        if (along < s.start() || along >= s.start() + s.length()) continue;
                        sum += element[i][(int) (r * cols + c)];
                        count++;
                    }
                }
            }
            out[u] = sum / count;
        }
        return out;
    }

    @Test
    void neuronImportanceMatchesBruteForceAndUsesOnlyTheFirstProbeBatches() {
        try (Scope scope = Scope.open()) {
            Stage2Fixture.Expanded e = Stage2Fixture.expanded(DType.FLOAT64, 13);
            Random random = new Random(4);
            try (CausalLM model = e.model();
                 DecoupledTuning tuning = new DecoupledTuning(model, e.trainable(), Granularity.NEURON, RatePolicy.CONTINUOUS, AdamW.factory(SETTINGS), true)) {
                train(tuning, random, 4);
                List<Batch> probe = probe(5, 4);
                UnitMap map = tuning.units();
                double[] capped = UnitImportance.compute(model, map, tuning.trainable(), probe, 2, tuning.firstRecordedLayer());
                double[] expected = bruteForce(model, map, tuning.trainable(), probe.subList(0, 2));
                double worst = 0;
                for (int u = 0; u < map.size(); u++) {
                    assertTrue(expected[u] > 0, map.units().get(u).name() + " has a non-zero importance after training");
                    double rel = Math.abs(capped[u] - expected[u]) / expected[u];
                    worst = Math.max(worst, rel);
                    assertTrue(rel <= 1e-9, map.units().get(u).name() + ": " + capped[u] + " vs brute force " + expected[u]);
                }
                System.out.printf("UnitImportanceTest: %d neuron-granularity units match brute force, worst relative difference %.2e%n",
                        map.size(), worst);
                // the cap: the first 2 of 4 batches, exactly as if only those were given; all 4 give something else
                double[] firstTwo = UnitImportance.compute(model, map, tuning.trainable(), probe.subList(0, 2), 0, tuning.firstRecordedLayer());
                assertArrayEquals(firstTwo, capped, 0.0);
                double[] all = UnitImportance.compute(model, map, tuning.trainable(), probe, 0, tuning.firstRecordedLayer());
                assertArrayEquals(all, UnitImportance.compute(model, map, tuning.trainable(), probe, 9, tuning.firstRecordedLayer()), 0.0,
                        "a cap above the batch count uses them all");
                assertFalse(java.util.Arrays.equals(all, capped), "batches 3 and 4 change the importance");
                double[] allExpected = bruteForce(model, map, tuning.trainable(), probe);
                for (int u = 0; u < map.size(); u++) assertEquals(allExpected[u], all[u], 1e-9 * allExpected[u]);
                assertThrows(IllegalArgumentException.class,
                        () -> UnitImportance.compute(model, map, tuning.trainable(), List.of(), 0, tuning.firstRecordedLayer()));
            }
        }
    }
}
