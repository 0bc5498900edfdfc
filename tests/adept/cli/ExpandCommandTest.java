package adept.cli;

import static org.junit.jupiter.api.Assertions.*;

import adept.expand.ExpansionMetadata;
import adept.io.checkpoint.Checkpoint;
import adept.io.checkpoint.ConfigJson;
import adept.nn.CausalLM;
import adept.probe.LayerImportance;
import adept.probe.ProbeReport;
import adept.tensor.DType;
import adept.tensor.Device;
import adept.tensor.Scope;
import adept.tensor.Tensor;
import adept.tensor.Torch;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class ExpandCommandTest {
    @TempDir
    static Path shared;
    static Path model;
    static Path importance;

    @TempDir
    Path tmp;

    @BeforeAll
    static void setUp() throws IOException {
        model = shared.resolve("tiny-qwen3");
        TinyModel.write(model);
        Files.writeString(model.resolve("generation_config.json"), "{\"eos_token_id\": 1}\n");
        Path probe = shared.resolve("probe.jsonl");
        TinyModel.writeProbe(probe);
        TinyModel.Result r = TinyModel.run("probe", "--model", model.toString(), "--probe", probe.toString(), "--out",
                shared.resolve("probe").toString());
        assertEquals(0, r.exitCode(), r.err());
        importance = shared.resolve("probe").resolve("importance.json");
    }

    static Tensor logits(CausalLM lm) {
        long[] ids = {3, 5, 9, 2, 63, 0, 7, 7, 30, 12, 40, 41};
        Tensor mask = Tensor.of(new long[] {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0}, 2, 6);
        return lm.forward(Tensor.of(ids, 2, 6), mask);
    }

    @Test
    void lowestKExpandsWithIdenticalLogitsAndRecordsTheExpansion() throws IOException {
        Path out = tmp.resolve("expanded");
        TinyModel.Result r = TinyModel.run("expand", "--model", model.toString(), "--k", "2", "--importance", importance.toString(), "--out",
                out.toString());
        assertEquals(0, r.exitCode(), r.err());
        assertTrue(r.out().contains("new  source  copy  trainable"), r.out());

        LayerImportance scores = ProbeReport.read(importance).importance();
        List<Integer> lowest = scores.lowest(2);
        Checkpoint ckpt = Checkpoint.open(out);
        assertEquals(TinyModel.LAYERS + 2, ckpt.config().modelConfig().numHiddenLayers());
        ExpansionMetadata meta = ExpansionMetadata.from(ckpt.metadata(), out.toString()).orElseThrow();
        assertEquals(lowest, meta.sources());
        assertEquals("lowest-dL", meta.method());
        assertEquals(2, meta.k());
        assertArrayEquals(scores.deltas(), meta.scores());
        List<Integer> copies = new ArrayList<>();
        for (int i = 0, at = 0; i < TinyModel.LAYERS; i++) {
            at++;
            if (lowest.contains(i)) copies.add(at++);
        }
        assertEquals(copies, meta.copyIndices());
        for (String name : meta.trainable()) {
            assertTrue(copies.stream().anyMatch(c -> name.startsWith("model.layers." + c + ".")), name);
        }
        assertEquals(2 * 11, meta.trainable().size());  // 11 tensors per Qwen3 layer (q/k norms included)
        ExpansionMetadata sidecar = ExpansionMetadata.parse(Files.readString(out.resolve(ExpansionMetadata.FILE_NAME)), "sidecar");
        assertEquals(meta, sidecar);
        for (String f : List.of("tokenizer.json", "tokenizer_config.json", "generation_config.json")) assertTrue(Files.exists(out.resolve(f)), f);

        try (CausalLM before = Checkpoint.load(model, DType.FLOAT32, Device.CPU); CausalLM after = Checkpoint.load(out, DType.FLOAT32, Device.CPU);
             Scope scope = Scope.open(); var noGrad = Torch.noGrad()) {
            assertEquals(TinyModel.LAYERS + 2, after.layers().size());
            double diff = logits(before).sub(logits(after)).abs().max().item();
            assertEquals(0.0, diff, "max |logits difference|");
            // the copies' o_proj and down_proj are zero, the rest equals the source
            for (int i = 0; i < copies.size(); i++) {
                Map<String, Tensor> copy = after.layers().get(copies.get(i)).parameters();
                Map<String, Tensor> src = before.layers().get(lowest.get(i)).parameters();
                assertEquals(0.0, copy.get("mlp.down_proj.weight").abs().max().item());
                assertEquals(0.0, copy.get("self_attn.o_proj.weight").abs().max().item());
                assertEquals(0.0, copy.get("self_attn.q_proj.weight").sub(src.get("self_attn.q_proj.weight")).abs().max().item());
            }
        }
    }

    @Test
    void explicitUniformAndAutoPlans() throws IOException {
        Path a = tmp.resolve("explicit");
        TinyModel.Result r = TinyModel.run("expand", "--model", model.toString(), "--layers", "3,1", "--out", a.toString());
        assertEquals(0, r.exitCode(), r.err());
        ExpansionMetadata m = ExpansionMetadata.from(Checkpoint.open(a).metadata(), "a").orElseThrow();
        assertEquals(List.of(1, 3), m.sources());
        assertEquals(List.of(2, 5), m.copyIndices());
        assertNull(m.scores());

        Path b = tmp.resolve("uniform");
        r = TinyModel.run("expand", "--model", model.toString(), "--uniform", "2", "--out", b.toString(), "--dtype", "bfloat16");
        assertEquals(0, r.exitCode(), r.err());
        Checkpoint cb = Checkpoint.open(b);
        assertEquals(List.of(1, 3), ExpansionMetadata.from(cb.metadata(), "b").orElseThrow().sources());
        assertEquals(DType.BFLOAT16, ConfigJson.read(b.resolve("config.json")).dtype());

        Path c = tmp.resolve("auto");
        r = TinyModel.run("expand", "--model", model.toString(), "--k", "auto", "--budget", "0.3", "--importance", importance.toString(), "--out",
                c.toString());
        assertEquals(0, r.exitCode(), r.err());
        assertTrue(r.out().contains("within 30.0%"), r.out());
        ExpansionMetadata mc = ExpansionMetadata.from(Checkpoint.open(c).metadata(), "c").orElseThrow();
        assertEquals(ProbeReport.read(importance).importance().lowest(mc.k()), mc.sources());

        // an existing output folder is replaced only with --force
        r = TinyModel.run("expand", "--model", model.toString(), "--layers", "0", "--out", a.toString());
        assertNotEquals(0, r.exitCode());
        assertTrue(r.err().contains("exists; pass --force"), r.err());
        r = TinyModel.run("expand", "--model", model.toString(), "--layers", "0", "--out", a.toString(), "--force");
        assertEquals(0, r.exitCode(), r.err());
        assertEquals(List.of(0), ExpansionMetadata.from(Checkpoint.open(a).metadata(), "a").orElseThrow().sources());
    }

    private void assertFails(String expected, String... args) {
        Path out = tmp.resolve("never");
        List<String> all = new ArrayList<>(List.of("expand", "--model", model.toString(), "--out", out.toString()));
        all.addAll(List.of(args));
        TinyModel.Result r = TinyModel.run(all.toArray(String[]::new));
        assertNotEquals(0, r.exitCode());
        assertTrue(r.err().contains(expected), "expected '" + expected + "' in: " + r.err());
        assertFalse(r.err().contains("\tat "), "stack trace printed: " + r.err());
        assertFalse(Files.exists(out), "output folder left behind");
        try (var siblings = Files.list(tmp)) {
            assertEquals(List.of(), siblings.map(p -> p.getFileName().toString()).filter(n -> n.startsWith(".never")).toList());
        } catch (IOException e) {
            throw new RuntimeException(e);
        }
    }

    @Test
    void badK() {
        assertFails("K must be in 1..4, got 0", "--k", "0", "--importance", importance.toString());
        assertFails("K must be in 1..4, got 5", "--k", "5", "--importance", importance.toString());
        assertFails("--k must be a whole number or auto", "--k", "two", "--importance", importance.toString());
        assertFails("--k needs --importance", "--k", "2");
        assertFails("--budget applies only with --k auto", "--k", "2", "--importance", importance.toString(), "--budget", "0.2");
        assertFails("parameter budget must be in (0, 1)", "--k", "auto", "--importance", importance.toString(), "--budget", "1.5");
    }

    @Test
    void badLayers() {
        assertFails("layer 1 is listed twice", "--layers", "1,3,1");
        assertFails("layer 4 is out of range 0..3", "--layers", "0,4");
        assertFails("layer -1 is out of range 0..3", "--layers", "-1");
        assertFails("'x' is not a layer number", "--layers", "1,x");
    }

    @Test
    void badUniform() {
        assertFails("P must be in 1..4, got 0", "--uniform", "0");
        assertFails("P must be in 1..4, got 5", "--uniform", "5");
    }

    @Test
    void selectionOptionsAreExclusive() {
        assertFails("one of --k K", new String[0]);
        assertFails("mutually exclusive", "--layers", "1", "--uniform", "2");
        assertFails("mutually exclusive", "--k", "2", "--importance", importance.toString(), "--layers", "1");
    }

    @Test
    void badImportanceFiles() throws IOException {
        assertFails("no such importance file", "--k", "2", "--importance", tmp.resolve("missing.json").toString());
        Path garbled = tmp.resolve("garbled.json");
        Files.writeString(garbled, "{\"format\": \"adept.probe/1\", \"base_loss\": 1.0, ", StandardCharsets.UTF_8);
        assertFails(garbled + ": malformed JSON", "--k", "2", "--importance", garbled.toString());
        Path other = tmp.resolve("other.json");
        ProbeReport three = new ProbeReport("x", "now", "/m", "m", "Qwen3ForCausalLM", "float32", "cpu", "/p", 1, 1, 1, 1, 8, 0,
                new LayerImportance(1.0, new double[] {1.1, 1.2, 1.3}, 5), 2, Map.of());
        three.write(other);
        assertFails("has scores for 3 layers but", "--k", "2", "--importance", other.toString());
    }

    @Test
    void outMustNotBeTheModel() {
        TinyModel.Result r = TinyModel.run("expand", "--model", model.toString(), "--layers", "1", "--out", model.toString(), "--force");
        assertNotEquals(0, r.exitCode());
        assertTrue(r.err().contains("must not be the model folder"), r.err());
        assertTrue(Files.exists(model.resolve("model.safetensors")));
    }
}
