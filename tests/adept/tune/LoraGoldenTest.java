package adept.tune;

import static org.junit.jupiter.api.Assertions.*;

import adept.io.checkpoint.Checkpoint;
import adept.io.checkpoint.Safetensors;
import adept.nn.CausalLM;
import adept.optim.AdamW;
import adept.optim.AdamWSettings;
import adept.optim.LrSchedule;
import adept.tensor.DType;
import adept.tensor.Device;
import adept.tensor.Scope;
import adept.tensor.Tensor;
import adept.tensor.Torch;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * LoRA against plain PyTorch (tools/reference/make_lora_golden.py: PEFT's lora.Linear forward, kaiming-uniform A and
 * zero B after torch.manual_seed(42), torch.optim.AdamW, clip_grad_norm_): adept's own adapters (same seed) start equal
 * to the reference's, the first forward gives the base model's logits bit for bit, 20 steps in float64 match every
 * loss and gradient norm and the final adapters within 1e-5 relative, the base stays bit-identical, and the merged
 * model gives the adapted model's logits within 1e-5.
 */
class LoraGoldenTest {
    static final Path DIR = Path.of("tests/fixtures/golden/lora");
    static final Path BASE = Path.of("tests/fixtures/golden/stage2");
    static final double TOLERANCE = 1e-5;

    static double relative(double expected, double actual) {
        return Math.abs(expected - actual) / Math.max(Math.abs(expected), 1e-12);
    }

    @Test
    void matchesPyTorchReference() throws Exception {
        JsonObject spec = JsonParser.parseString(Files.readString(DIR.resolve("lora_golden.json"))).getAsJsonObject();
        JsonObject lora = spec.getAsJsonObject("lora");
        List<String> targets = new ArrayList<>();
        lora.getAsJsonArray("target_modules").forEach(e -> targets.add(e.getAsString()));
        List<String> names = new ArrayList<>();
        lora.getAsJsonArray("adapter_names").forEach(e -> names.add(e.getAsString()));
        LoraSpec loraSpec = new LoraSpec(lora.get("r").getAsInt(), lora.get("lora_alpha").getAsDouble(), 0, targets);
        Safetensors golden = Safetensors.open(DIR.resolve("lora_golden.safetensors"));
        try (Scope scope = Scope.open();
             CausalLM model = Checkpoint.load(BASE, DType.FLOAT64, Device.CPU)) {
            Map<String, Tensor> base = new LinkedHashMap<>();
            for (var e : model.namedParameters().entrySet()) base.put(e.getKey(), e.getValue().clone());
            Tensor checkIds = golden.tensor("check_ids");
            Tensor baseLogits;
            try (var noGrad = Torch.noGrad()) {
                baseLogits = model.forward(checkIds, null);
            }
            assertEquals(0.0, baseLogits.sub(golden.tensor("logits_base")).abs().max().item(), 1e-12, "the base model itself");

            Map<String, Tensor> adapters = LoraAdapters.attach(model, loraSpec, 42);
            assertEquals(names, new ArrayList<>(adapters.keySet()), "adapters in the reference's order and names");
            double initDiff = 0;
            for (String n : names) {
                if (n.endsWith("lora_A.weight")) initDiff = Math.max(initDiff, adapters.get(n).sub(golden.tensor("init." + n)).abs().max().item());
                else assertEquals(0.0, adapters.get(n).abs().max().item(), "B starts at zero: " + n);
            }
            System.out.printf(Locale.ROOT, "lora golden: A at initialisation, max |adept - torch| = %.3e%n", initDiff);
            assertTrue(initDiff <= 1e-12, "A drawn as torch draws it (kaiming_uniform_ after manual_seed(42)): " + initDiff);
            try (var noGrad = Torch.noGrad()) {
                assertEquals(0.0, model.forward(checkIds, null).sub(baseLogits).abs().max().item(), "first forward = base model, bit for bit");
            }

            double[] losses = golden.tensor("loss").toDoubleArray();
            double[] gradNorms = golden.tensor("grad_norm").toDoubleArray();
            Tensor trainIds = golden.tensor("train_ids");
            int steps = losses.length;
            LrSchedule schedule = new LrSchedule(LrSchedule.Kind.COSINE, 5e-3, 2, steps);
            AdamWSettings settings = new AdamWSettings(0.9, 0.999, 1e-8, 0.1, 1.0);
            double worstLoss = 0;
            double worstNorm = 0;
            try (DecoupledTuning tuning = new DecoupledTuning(model, names, Granularity.TENSOR, RatePolicy.CONTINUOUS, AdamW.factory(settings), false)) {
                assertEquals(names.size(), tuning.units().size(), "one unit per adapter tensor");
                for (int s = 0; s < steps; s++) {
                    try (Scope step = Scope.open()) {
                        Tensor loss = tuning.loss(trainIds.select(0, s));
                        worstLoss = Math.max(worstLoss, relative(losses[s], loss.item()));
                        loss.backward();
                        tuning.step(schedule.rate(s));
                        worstNorm = Math.max(worstNorm, relative(gradNorms[s], tuning.optimizer().lastGradNorm().item()));
                    }
                }
            }
            double worstFinal = 0;
            Map<String, Tensor> trained = model.adapterParameters();
            for (String n : names) {
                Tensor expected = golden.tensor("final." + n);
                worstFinal = Math.max(worstFinal, trained.get(n).sub(expected).abs().div(expected.abs().clamp(1e-3, 1e30)).max().item());
            }
            for (var e : model.namedParameters().entrySet()) {
                assertEquals(0.0, e.getValue().sub(base.get(e.getKey())).abs().max().item(), "base tensor moved: " + e.getKey());
            }
            Tensor adapted;
            double mergedDiff;
            try (var noGrad = Torch.noGrad(); CausalLM merged = LoraAdapters.merged(model)) {
                adapted = model.forward(checkIds, null);
                mergedDiff = merged.forward(checkIds, null).sub(adapted).abs().max().item();
            }
            double adaptedDiff = adapted.sub(golden.tensor("logits_adapted")).abs().max().item();
            System.out.printf(Locale.ROOT, "lora golden: %d steps, worst relative difference: loss %.3e, grad norm %.3e, final adapters %.3e; "
                    + "logits: adapted vs torch %.3e, merged vs adapted %.3e (max abs)%n", steps, worstLoss, worstNorm, worstFinal, adaptedDiff, mergedDiff);
            assertTrue(worstLoss <= TOLERANCE, "losses: " + worstLoss);
            assertTrue(worstNorm <= TOLERANCE, "gradient norms: " + worstNorm);
            assertTrue(worstFinal <= TOLERANCE, "final adapters: " + worstFinal);
            assertTrue(adaptedDiff <= TOLERANCE, "adapted logits against torch: " + adaptedDiff);
            assertTrue(mergedDiff <= TOLERANCE, "merged model against base + adapters: " + mergedDiff);
        }
    }
}
