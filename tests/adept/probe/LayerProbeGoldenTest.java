package adept.probe;

import static org.junit.jupiter.api.Assertions.*;

import adept.io.checkpoint.Checkpoint;
import adept.io.checkpoint.Safetensors;
import adept.io.data.Batch;
import adept.io.data.Example;
import adept.nn.CausalLM;
import adept.tensor.DType;
import adept.tensor.Device;
import adept.tensor.Scope;
import adept.tensor.Tensor;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * Stage 1 against plain PyTorch (tools/reference/make_probe_golden.py: a float64 run that zeroes each layer's
 * parameters in turn): dL of every layer of a tiny 6-layer Llama on 3 right-padded probe batches of different
 * shapes, some rows with prompt tokens that are not targets, and the K lowest layers. Every way adept probes
 * (cached, cached under a tiny budget, plain M+1 passes) must match within 1e-5 absolute, in float64 and float32.
 */
final class LayerProbeGoldenTest {
    static final Path DIR = Path.of("tests/fixtures/golden/probe");
    static final double TOLERANCE = 1e-5;

    /** The reference's numbers, as the fixture stores them. */
    record Expected(double baseLoss, double[] skipLoss, double[] delta, long targetTokens, int k, List<Integer> lowest) {
        static Expected read(Safetensors golden, JsonObject spec) {
            List<Integer> lowest = new ArrayList<>();
            spec.getAsJsonArray("lowest").forEach(e -> lowest.add(e.getAsInt()));
            return new Expected(golden.tensor("base_loss").item(), golden.tensor("skip_loss").toDoubleArray(),
                    golden.tensor("delta").toDoubleArray(), spec.get("target_tokens").getAsLong(), spec.get("k").getAsInt(), lowest);
        }
    }

    @ParameterizedTest
    @EnumSource(value = DType.class, names = {"FLOAT64", "FLOAT32"})
    void matchesPyTorchReference(DType dtype) throws IOException {
        JsonObject spec = JsonParser.parseString(Files.readString(DIR.resolve("probe_golden.json"))).getAsJsonObject();
        Safetensors golden = Safetensors.open(DIR.resolve("probe_golden.safetensors"));
        try (Scope scope = Scope.open(); CausalLM model = Checkpoint.load(DIR, dtype, Device.CPU)) {
            Expected expected = Expected.read(golden, spec);
            assertEquals(expected.skipLoss().length, model.layers().size(), "one dL per layer");
            List<Batch> batches = batches(golden, spec.get("batches").getAsInt(), spec.get("pad_id").getAsLong());
            var probes = Map.of(
                    "cached", new LayerProbe(model, LayerProbe.UNBOUNDED, null).probe(batches, null),
                    // a 1-byte budget forces checkpoints and recomputed segments
                    "bounded", new LayerProbe(model, 1, null).probe(batches, null),
                    "plain", new LayerProbe(model).probePlain(batches));
            for (var probe : probes.entrySet()) check(expected, probe.getValue(), dtype + " " + probe.getKey());
        }
    }

    static void check(Expected expected, LayerImportance actual, String what) {
        assertEquals(expected.targetTokens(), actual.targetTokens(), what + ": real target tokens (no padding, no prompt)");
        assertEquals(expected.baseLoss(), actual.baseLoss(), TOLERANCE, what + ": base loss");
        double[] delta = actual.deltas();
        for (int l = 0; l < delta.length; l++) {
            assertEquals(expected.skipLoss()[l], actual.skipLoss()[l], TOLERANCE, what + ": loss without layer " + l);
            assertEquals(expected.delta()[l], delta[l], TOLERANCE, what + ": dL of layer " + l);
        }
        assertEquals(expected.lowest(), actual.lowest(expected.k()), what + ": the " + expected.k() + " lowest-dL layers");
    }

    /**
     * The stored batches rebuilt the way adept builds them (Examples right-padded by Batch.of; a token is a target
     * where its label is not -100), checked to equal the stored tensors, so both sides see the same batches.
     */
    static List<Batch> batches(Safetensors golden, int count, long padId) {
        List<Batch> out = new ArrayList<>();
        for (int b = 0; b < count; b++) {
            Tensor ids = golden.tensor("batch" + b + ".input_ids");
            Tensor mask = golden.tensor("batch" + b + ".attention_mask");
            Tensor labels = golden.tensor("batch" + b + ".labels");
            List<Example> rows = new ArrayList<>();
            for (int r = 0; r < ids.size(0); r++) {
                long[] m = mask.select(0, r).toLongArray();
                long[] l = labels.select(0, r).toLongArray();
                int length = 0;
                while (length < m.length && m[length] == 1) length++;
                boolean[] targets = new boolean[length];
                for (int t = 0; t < length; t++) targets[t] = l[t] != Tensor.IGNORE_INDEX;
                rows.add(new Example(Arrays.copyOf(ids.select(0, r).toLongArray(), length), targets, r + 1));
            }
            Batch batch = Batch.of(rows, padId, Device.CPU);
            assertArrayEquals(ids.shape(), batch.inputIds().shape(), "batch " + b + " shape");
            assertArrayEquals(ids.toLongArray(), batch.inputIds().toLongArray(), "batch " + b + " input ids");
            assertArrayEquals(mask.toLongArray(), batch.attentionMask().toLongArray(), "batch " + b + " attention mask");
            assertArrayEquals(labels.toLongArray(), batch.labels().toLongArray(), "batch " + b + " labels");
            out.add(batch);
        }
        return out;
    }
}
