package adept.train;

import static org.junit.jupiter.api.Assertions.*;

import adept.expand.LayerExpansion;
import adept.io.checkpoint.Checkpoint;
import adept.io.checkpoint.LoadedModel;
import adept.nn.CausalLM;
import adept.nn.LayerType;
import adept.nn.ModelConfig;
import adept.tensor.DType;
import adept.tensor.Device;
import adept.tensor.Scope;
import adept.tensor.Tensor;
import adept.tensor.Torch;
import adept.testing.TinyModel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * The tiny Gemma 2 / Gemma 3 checkpoints the PyTorch reference wrote (tests/fixtures/golden) through the method:
 * expansion by identity copy keeps the logits (sliding and full layers copied, their types kept), and
 * adept mode probes, expands and trains (blocks longer than the sliding window).
 */
class GemmaTrainTest {
    @TempDir
    Path dir;

    private Path base(String name) throws Exception {
        Path base = dir.resolve("base");
        Files.createDirectories(base);
        for (String f : List.of("config.json", "model.safetensors")) {
            Files.copy(Path.of("tests/fixtures/golden", name, f), base.resolve(f));
        }
        return TinyModel.writeTokenizer(base);
    }

    @ParameterizedTest
    @ValueSource(strings = {"gemma2", "gemma3"})
    void identityCopyKeepsLogitsAndLayerTypes(String name) throws Exception {
        Path base = base(name);
        try (LoadedModel loaded = Checkpoint.loadWithProvenance(base, DType.FLOAT32, Device.CPU); Scope scope = Scope.open();
             var noGrad = Torch.noGrad()) {
            CausalLM model = loaded.model();
            long[] ids = new long[16];
            for (int i = 0; i < ids.length; i++) ids[i] = 4 + (i * 7) % 60;
            Tensor input = Tensor.of(ids, 1, ids.length);
            Tensor before = model.forward(input, null);
            List<LayerType> types = model.layers().stream().map(l -> l.type()).toList();
            // copies of layer 0 (sliding) and of the last layer (full in both fixtures)
            int last = model.layers().size() - 1;
            LoadedModel expandedModel = LayerExpansion.apply(loaded, LayerExpansion.explicit(model.layers().size(), List.of(0, last)), null).model();
            Tensor after = model.forward(input, null);
            assertEquals(0.0, after.sub(before).abs().max().item(), name + ": the expanded model's logits equal the original's");
            List<LayerType> expected = new java.util.ArrayList<>(types);
            expected.add(1, types.get(0));
            expected.add(types.get(last));
            assertEquals(expected, model.layers().stream().map(l -> l.type()).toList(), "copies keep their source's attention span");
            assertEquals(expected, model.config().extras().layerTypes());
            Path expanded = dir.resolve("expanded");
            Checkpoint.save(expandedModel, expanded);
            try (CausalLM back = Checkpoint.load(expanded, DType.FLOAT32, Device.CPU)) {
                ModelConfig c = back.config();
                assertEquals(model.config(), c, "config.json of the expanded model reads back the same");
                assertEquals(0.0, back.forward(input, null).sub(before).abs().max().item(), "saved and reloaded: same logits");
            }
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"gemma2", "gemma3"})
    void adeptModeProbesExpandsAndTrains(String name) throws Exception {
        Path base = base(name);
        TrainSettings s = TrainFixtures.settings(dir, "adept").toBuilder().model(base).k(1).steps(6).refreshEvery(3).saveEvery(6L).evalEvery(6L).build();
        Trainer.Result r = new Trainer(s).run();
        assertEquals(Trainer.Status.COMPLETED, r.status());
        assertTrue(Double.isFinite(r.lastLoss()) && Double.isFinite(r.evalLoss()), name + ": losses " + r.lastLoss() + ", " + r.evalLoss());
        try (CausalLM trained = Checkpoint.load(r.model(), DType.FLOAT32, Device.CPU)) {
            assertEquals(4, trained.layers().size(), "one layer added");
            assertEquals(adept.nn.Architecture.valueOf(name.toUpperCase()), trained.config().architecture());
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"gemma2", "gemma3"})
    void commandsProbeExpandAndEvaluate(String name) throws Exception {
        Path base = base(name);
        Path probe = TinyModel.writeProbe(dir.resolve("probe.jsonl"));
        Path heldout = TrainFixtures.corpus(dir.resolve("heldout.jsonl"), 2, 10);
        TinyModel.Run p = TinyModel.adept("probe", "--model", base.toString(), "--probe", probe.toString(), "--out", dir.resolve("probe").toString());
        assertEquals(0, p.exit(), p.err());
        Path expanded = dir.resolve("expanded");
        TinyModel.Run x = TinyModel.adept("expand", "--model", base.toString(), "--layers", "0,2", "--out", expanded.toString());
        assertEquals(0, x.exit(), x.err());
        TinyModel.Run a = TinyModel.adept("eval", "--model", base.toString(), "--data", heldout.toString());
        TinyModel.Run b = TinyModel.adept("eval", "--model", expanded.toString(), "--data", heldout.toString());
        assertEquals(0, a.exit(), a.err());
        assertEquals(0, b.exit(), b.err());
        assertEquals(a.out().lines().findFirst(), b.out().lines().findFirst(), "the expanded model's held-out loss is the original's");
    }
}
