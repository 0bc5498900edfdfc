package adept.tune;

import static org.junit.jupiter.api.Assertions.*;

import adept.nn.CausalLM;
import adept.optim.AdamW;
import adept.optim.AdamWSettings;
import adept.optim.Parameter;
import adept.optim.SplitRateOptimizer;
import adept.tensor.DType;
import adept.tensor.Device;
import adept.tensor.Scope;
import adept.tensor.Tensor;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.Test;

/**
 * Per-unit rates and masks written into the split-rate AdamW at NEURON granularity (row units of q/k/v/gate/up,
 * column units of o_proj and down_proj, tensor units of the norms) on the tiny expanded Qwen3 in float64.
 */
class UnitRatesTest {
    /** The expected per-element value of every trainable tensor (row-major), from the units' slices, by hand. */
    static Map<String, double[]> expand(UnitMap map, double[] perUnit) {
        Map<String, double[]> out = new HashMap<>();
        for (var e : map.shapes().entrySet()) {
            long n = 1;
            for (long d : e.getValue()) n *= d;
            out.put(e.getKey(), new double[(int) n]);
        }
        for (int u = 0; u < map.size(); u++) {
            for (Unit.Slice s : map.units().get(u).slices()) {
                long[] shape = map.shapes().get(s.tensor());
                long rows = shape[0];
                long cols = shape.length > 1 ? shape[1] : 1;
                double[] values = out.get(s.tensor());
                for (long r = 0; r < rows; r++) {
                    for (long c = 0; c < cols; c++) {
                        long along = s.dim() == 0 ? r : c;
                        if (along >= s.start() && along < s.start() + s.length()) values[(int) (r * cols + c)] = perUnit[u];
                    }
                }
            }
        }
        return out;
    }

    /** The flat optimizer state vector cut into the parameters' row-major blocks, in the optimizer's order. */
    static Map<String, double[]> unflatten(SplitRateOptimizer adam, Tensor flatState) {
        double[] all = flatState.to(DType.FLOAT64).toDoubleArray();
        Map<String, double[]> out = new HashMap<>();
        int offset = 0;
        for (Parameter p : adam.parameters()) {
            int n = (int) p.tensor().numel();
            out.put(p.name(), java.util.Arrays.copyOfRange(all, offset, offset + n));
            offset += n;
        }
        assertEquals(all.length, offset);
        return out;
    }

    /** A distinct multiplier per unit (0.1 .. 1.9, some exactly 1 and one 0), every 7th unit frozen. */
    static RatePolicy.Assignment pattern(int units) {
        double[] w = new double[units];
        boolean[] frozen = new boolean[units];
        for (int u = 0; u < units; u++) {
            w[u] = u == 3 ? 0.0 : 0.1 + (u % 19) * 0.1;
            frozen[u] = u % 7 == 5;
        }
        return new RatePolicy.Assignment(w, frozen);
    }

    @Test
    void assignmentSetsExactlyTheUnitsElements() {
        try (Scope scope = Scope.open()) {
            Stage2Fixture.Expanded e = Stage2Fixture.expanded(DType.FLOAT64, 21);
            AdamWSettings settings = new AdamWSettings(0.9, 0.999, 1e-8, 0, 0);  // no decay, no clipping: the step is lr * w * sign(g)
            try (CausalLM model = e.model();
                 DecoupledTuning tuning = new DecoupledTuning(model, e.trainable(), Granularity.NEURON, RatePolicy.CONTINUOUS, AdamW.factory(settings), true)) {
                UnitMap map = tuning.units();
                SplitRateOptimizer adam = tuning.optimizer();
                RatePolicy.Assignment a = pattern(map.size());
                UnitRates.apply(adam, map, a);
                double[] frozenAsDouble = new double[map.size()];
                for (int u = 0; u < map.size(); u++) frozenAsDouble[u] = a.frozen()[u] ? 1 : 0;
                Map<String, double[]> expectedW = expand(map, a.multipliers());
                Map<String, double[]> expectedFrozen = expand(map, frozenAsDouble);
                Map<String, Tensor> state = adam.exportState();
                Map<String, double[]> w = unflatten(adam, state.get("multiplier"));
                Map<String, double[]> frozen = unflatten(adam, state.get("frozen"));
                for (String name : map.shapes().keySet()) {
                    assertArrayEquals(expectedW.get(name), w.get(name), 0.0, "multipliers of " + name);
                    assertArrayEquals(expectedFrozen.get(name), frozen.get(name), 0.0, "frozen flags of " + name);
                }
                for (Tensor t : state.values()) t.close();

                // one step from a known gradient (all ones): each element moves by -lr * w / (1 + eps), frozen ones not at all
                double lr = 1e-3;
                Map<String, double[]> before = new HashMap<>();
                for (var t : tuning.trainable().entrySet()) {
                    before.put(t.getKey(), t.getValue().detach().contiguous().toDoubleArray());
                    t.getValue().setGrad(Tensor.ones(DType.FLOAT64, Device.CPU, t.getValue().shape()));
                }
                tuning.step(lr);
                int moved = 0;
                for (var t : tuning.trainable().entrySet()) {
                    String name = t.getKey();
                    double[] after = t.getValue().detach().contiguous().toDoubleArray();
                    for (int i = 0; i < after.length; i++) {
                        double delta = after[i] - before.get(name)[i];
                        if (expectedFrozen.get(name)[i] == 1) {
                            assertEquals(Double.doubleToRawLongBits(before.get(name)[i]), Double.doubleToRawLongBits(after[i]), name + "[" + i + "] frozen");
                        } else {
                            double expected = -lr * expectedW.get(name)[i] / (1 + 1e-8);
                            assertEquals(expected, delta, 1e-15, name + "[" + i + "] with multiplier " + expectedW.get(name)[i]);
                            if (expected != 0) moved++;
                        }
                    }
                }
                assertTrue(moved > 10000, "most elements moved: " + moved);
                // a new assignment replaces the old one entirely (reset first)
                UnitRates.apply(adam, map, RatePolicy.CONTINUOUS.assign(new double[map.size()]));
                Map<String, Tensor> reset = adam.exportState();
                assertEquals(1.0, reset.get("multiplier").min().item());
                assertEquals(1.0, reset.get("multiplier").max().item());
                assertEquals(0.0, reset.get("frozen").to(DType.FLOAT64).max().item());
                for (Tensor t : reset.values()) t.close();
            }
        }
    }

    @Test
    void frozenUnitsDoNotMoveOverFiftyStepsWithWeightDecay() {
        try (Scope scope = Scope.open()) {
            Stage2Fixture.Expanded e = Stage2Fixture.expanded(DType.FLOAT64, 22);
            Random random = new Random(7);
            AdamWSettings settings = new AdamWSettings(0.9, 0.999, 1e-8, 0.1, 1.0);
            try (CausalLM model = e.model();
                 DecoupledTuning tuning = new DecoupledTuning(model, e.trainable(), Granularity.NEURON, new RatePolicy(RateMode.MASK, 0.5, 1, 1),
                         AdamW.factory(settings), true)) {
                UnitMap map = tuning.units();
                double[] ones = new double[map.size()];
                java.util.Arrays.fill(ones, 1.0);
                RatePolicy.Assignment a = new RatePolicy.Assignment(ones, pattern(map.size()).frozen());  // as mask mode: base rate, some frozen
                List<String> frozenNames = new java.util.ArrayList<>();
                for (int u = 0; u < map.size(); u++) if (a.frozen()[u]) frozenNames.add(map.units().get(u).name());
                // the pattern freezes query heads, kv heads, MLP neurons (rows of gate/up, columns of down) and norm tensors
                assertTrue(frozenNames.stream().anyMatch(n -> n.contains(".mlp.neuron.")), frozenNames.toString());
                assertTrue(frozenNames.stream().anyMatch(n -> n.contains(".self_attn.head.")), frozenNames.toString());
                assertTrue(frozenNames.stream().anyMatch(n -> n.contains(".self_attn.kv_head.")), frozenNames.toString());
                assertTrue(frozenNames.stream().anyMatch(n -> n.endsWith("norm.weight")), frozenNames.toString());
                UnitRates.apply(tuning.optimizer(), map, a);
                double[] frozenAsDouble = new double[map.size()];
                for (int u = 0; u < map.size(); u++) frozenAsDouble[u] = a.frozen()[u] ? 1 : 0;
                Map<String, double[]> isFrozen = expand(map, frozenAsDouble);
                Map<String, double[]> before = new HashMap<>();
                for (var t : tuning.trainable().entrySet()) before.put(t.getKey(), t.getValue().detach().contiguous().toDoubleArray());
                for (int s = 0; s < 50; s++) {
                    try (Scope step = Scope.open()) {
                        tuning.loss(Stage2Fixture.block(random, 2, 16)).backward();
                        tuning.step(1e-2);
                    }
                }
                long frozenElements = 0;
                long movedElements = 0;
                for (var t : tuning.trainable().entrySet()) {
                    String name = t.getKey();
                    double[] after = t.getValue().detach().contiguous().toDoubleArray();
                    for (int i = 0; i < after.length; i++) {
                        if (isFrozen.get(name)[i] == 1) {
                            frozenElements++;
                            assertEquals(Double.doubleToRawLongBits(before.get(name)[i]), Double.doubleToRawLongBits(after[i]),
                                    name + "[" + i + "] is frozen but moved");
                        } else if (after[i] != before.get(name)[i]) {
                            movedElements++;
                        }
                    }
                }
                // the frozen columns' neighbours in down_proj / o_proj did train
                for (String name : tuning.trainable().keySet()) {
                    if (!name.endsWith("down_proj.weight") && !name.endsWith("o_proj.weight")) continue;
                    double[] after = tuning.trainable().get(name).detach().contiguous().toDoubleArray();
                    long free = 0;
                    long changed = 0;
                    for (int i = 0; i < after.length; i++) {
                        if (isFrozen.get(name)[i] == 0) {
                            free++;
                            if (after[i] != before.get(name)[i]) changed++;
                        }
                    }
                    assertTrue(free > 0 && changed == free, name + ": " + changed + " of " + free + " unfrozen elements moved");
                }
                Map<String, Tensor> state = tuning.optimizer().exportState();
                Map<String, double[]> m = unflatten(tuning.optimizer(), state.get("exp_avg"));
                Map<String, double[]> v = unflatten(tuning.optimizer(), state.get("exp_avg_sq"));
                Map<String, double[]> steps = unflatten(tuning.optimizer(), state.get("step"));
                for (String name : map.shapes().keySet()) {
                    for (int i = 0; i < m.get(name).length; i++) {
                        if (isFrozen.get(name)[i] == 1) {
                            assertEquals(0.0, m.get(name)[i], name + ": moments of a frozen element stay 0");
                            assertEquals(0.0, v.get(name)[i], name + ": moments of a frozen element stay 0");
                            assertEquals(0.0, steps.get(name)[i], name + ": a frozen element's step count does not advance");
                        } else {
                            assertEquals(50.0, steps.get(name)[i], name);
                        }
                    }
                }
                for (Tensor t : state.values()) t.close();
                System.out.printf("UnitRatesTest: %d frozen units (%d elements) bit-identical over 50 steps with weight decay 0.1; %d other elements moved%n",
                        frozenNames.size(), frozenElements, movedElements);
            }
        }
    }
}
