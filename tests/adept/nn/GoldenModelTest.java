package adept.nn;

import static org.junit.jupiter.api.Assertions.*;

import adept.io.checkpoint.Checkpoint;
import adept.io.checkpoint.Safetensors;
import adept.tensor.DType;
import adept.tensor.Device;
import adept.tensor.Scope;
import adept.tensor.Tensor;
import com.google.gson.JsonParser;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Logits, loss and every parameter gradient of tiny Llama / Qwen2 / Qwen3 / Gemma 2 / Gemma 3 checkpoints
 * against PyTorch (tools/reference/make_golden.py, a float64 run of an HF-faithful reference).
 */
class GoldenModelTest {
    static final Path FIXTURES = Path.of("tests/fixtures/golden");

    @ParameterizedTest
    @ValueSource(strings = {"llama", "llama_tied", "qwen2", "qwen3", "llama_bf16", "gemma2", "gemma3"})
    void matchesPyTorch(String name) throws IOException {
        Path dir = FIXTURES.resolve(name);
        var expectedNames = new ArrayList<String>();
        for (var e : JsonParser.parseString(Files.readString(dir.resolve("golden.json"))).getAsJsonObject().getAsJsonArray("param_names")) {
            expectedNames.add(e.getAsString());
        }
        try (CausalLM model = Checkpoint.load(dir, DType.FLOAT32, Device.CPU); Scope scope = Scope.open()) {
            Safetensors golden = Safetensors.open(dir.resolve("golden.safetensors"));
            assertEquals(expectedNames, new ArrayList<>(model.namedParameters().keySet()), "parameter names and order");
            model.requiresGrad(true);

            Tensor ids = golden.tensor("input_ids");
            Tensor mask = golden.tensor("attention_mask");
            Tensor logits = model.forward(ids, mask);
            double logitError = logits.sub(golden.tensor("logits")).abs().max().item();
            assertTrue(logitError <= 1e-5, name + ": max |logits - PyTorch| = " + logitError);

            Tensor labels = CausalLM.labels(ids, mask);
            assertArrayEquals(golden.tensor("labels").toLongArray(), labels.toLongArray(), "labels from the attention mask");
            Tensor loss = CausalLM.loss(logits, labels);
            double expectedLoss = golden.tensor("loss").item();
            assertEquals(expectedLoss, loss.item(), 1e-6, name + ": loss");

            loss.backward();
            List<String> report = new ArrayList<>();
            for (var p : model.namedParameters().entrySet()) {
                Tensor expected = golden.tensor("grad." + p.getKey());
                double scale = expected.abs().max().item();
                double error = p.getValue().grad().sub(expected).abs().max().item();
                double relative = error / Math.max(scale, 1e-12);
                if (relative > 1e-4) report.add(p.getKey() + " relative error " + relative);
            }
            assertTrue(report.isEmpty(), name + ": gradients differ: " + report);
            System.out.printf("golden %-10s logits max err %.2e, loss err %.2e%n", name, logitError, Math.abs(loss.item() - expectedLoss));
        }
    }
}
