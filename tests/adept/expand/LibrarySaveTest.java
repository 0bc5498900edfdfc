package adept.expand;

import static org.junit.jupiter.api.Assertions.*;

import adept.io.checkpoint.Checkpoint;
import adept.io.checkpoint.CheckpointException;
import adept.io.checkpoint.LoadedModel;
import adept.io.checkpoint.SaveOptions;
import adept.nn.CausalLM;
import adept.tensor.DType;
import adept.tensor.Device;
import adept.testing.TinyModel;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The library's Checkpoint.save(loadedModel, dir) keeps what adept expand keeps: config fields (bos/eos), tokenizer files, expansion metadata. */
class LibrarySaveTest {
    @TempDir
    static Path shared;
    static Path base;

    @BeforeAll
    static void setUp() throws IOException {
        base = TinyModel.write(shared.resolve("base"), 5);
        JsonObject config = JsonParser.parseString(Files.readString(base.resolve("config.json"))).getAsJsonObject();
        config.addProperty("bos_token_id", TinyModel.BOS);
        config.addProperty("eos_token_id", TinyModel.EOS);
        config.addProperty("custom_field", "kept");
        Files.writeString(base.resolve("config.json"), config.toString());
        Files.writeString(base.resolve("generation_config.json"), "{\"eos_token_id\": " + TinyModel.EOS + "}\n");
    }

    static List<String> listing(Path dir) throws IOException {
        try (Stream<Path> files = Files.list(dir)) {
            return files.map(p -> p.getFileName().toString()).sorted().toList();
        }
    }

    static JsonObject json(Path file) throws IOException {
        return JsonParser.parseString(Files.readString(file)).getAsJsonObject();
    }

    @Test
    void expandingInTheLibraryWritesWhatTheCommandWrites(@TempDir Path tmp) throws IOException {
        Path cli = tmp.resolve("cli");
        TinyModel.Run run = TinyModel.adept("expand", "--model", base.toString(), "--layers", "1,2", "--out", cli.toString());
        assertEquals(0, run.exit(), run.err());

        Path library = tmp.resolve("library");
        // the real path: the command records the source by it
        try (LoadedModel model = Checkpoint.loadWithProvenance(base.toRealPath(), DType.FLOAT32, Device.CPU)) {
            LoadedModel expanded = LayerExpansion.apply(model, LayerExpansion.explicit(TinyModel.LAYERS, List.of(1, 2)), null).model();
            Checkpoint.save(expanded, library);
        }
        assertEquals(listing(cli), listing(library));
        assertTrue(listing(library).containsAll(List.of("tokenizer.json", "tokenizer_config.json", "generation_config.json",
                ExpansionMetadata.FILE_NAME)), listing(library).toString());
        for (String f : List.of("tokenizer.json", "tokenizer_config.json", "generation_config.json")) {
            assertEquals(Files.readString(cli.resolve(f)), Files.readString(library.resolve(f)), f);
        }
        JsonObject config = json(library.resolve("config.json"));
        assertEquals(json(cli.resolve("config.json")), config);
        assertEquals(TinyModel.BOS, config.get("bos_token_id").getAsLong());
        assertEquals(TinyModel.EOS, config.get("eos_token_id").getAsLong());
        assertEquals(TinyModel.LAYERS + 2, config.get("num_hidden_layers").getAsInt());

        ExpansionMetadata fromCli = ExpansionMetadata.from(Checkpoint.open(cli).metadata(), "cli").orElseThrow();
        ExpansionMetadata fromLibrary = ExpansionMetadata.from(Checkpoint.open(library).metadata(), "library").orElseThrow();
        assertEquals(fromCli.plan(), fromLibrary.plan());
        assertEquals(fromCli.trainable(), fromLibrary.trainable());
        assertArrayEquals(fromCli.sourceOfEachLayer(), fromLibrary.sourceOfEachLayer());
        assertEquals(fromLibrary, ExpansionMetadata.parse(Files.readString(library.resolve(ExpansionMetadata.FILE_NAME)), "sidecar"));
        assertEquals(fromCli, fromLibrary);
        for (String f : listing(cli)) {
            assertArrayEquals(Files.readAllBytes(cli.resolve(f)), Files.readAllBytes(library.resolve(f)), f + ": one save path, the same bytes");
        }
    }

    @Test
    void optionsAddFilesAndChecksumsButLeaveConfigAndMetadataToTheProvenance(@TempDir Path tmp) throws IOException {
        Path extra = Files.writeString(tmp.resolve("notes.txt"), "kept beside the weights\n");
        Path saved = tmp.resolve("saved");
        try (LoadedModel model = Checkpoint.loadWithProvenance(base, DType.FLOAT32, Device.CPU)) {
            LoadedModel expanded = LayerExpansion.apply(model, LayerExpansion.explicit(TinyModel.LAYERS, List.of(0)), null).model();
            Checkpoint.save(expanded, saved, SaveOptions.defaults().withExtraFile("notes.txt", extra).withChecksums().withDtype(DType.BFLOAT16));
            CheckpointException e = assertThrows(CheckpointException.class,
                    () -> Checkpoint.save(expanded, tmp.resolve("other"), SaveOptions.defaults().withMetadata(java.util.Map.of("k", "v"))));
            assertTrue(e.getMessage().contains("provenance"), e.getMessage());
            assertFalse(Files.exists(tmp.resolve("other")));
        }
        assertEquals(List.of(ExpansionMetadata.FILE_NAME, adept.io.checkpoint.Checksums.FILE_NAME, "config.json", "generation_config.json",
                "model.safetensors", "notes.txt", "tokenizer.json", "tokenizer_config.json"), listing(saved));
        adept.io.checkpoint.Checksums.verify(saved);
        assertEquals("kept", json(saved.resolve("config.json")).get("custom_field").getAsString());
        assertEquals(TinyModel.LAYERS + 1, json(saved.resolve("config.json")).get("num_hidden_layers").getAsInt());
        assertEquals(DType.BFLOAT16, Checkpoint.open(saved).storedDType());
        assertTrue(Checkpoint.open(saved).metadata().containsKey(ExpansionMetadata.METADATA_KEY));
    }

    @Test
    void reloadedExpandedModelsKeepTheirRecordUnlessToldOtherwise(@TempDir Path tmp) throws IOException {
        Path expanded = tmp.resolve("expanded");
        TinyModel.Run run = TinyModel.adept("expand", "--model", base.toString(), "--uniform", "2", "--out", expanded.toString());
        assertEquals(0, run.exit(), run.err());

        Path again = tmp.resolve("again");
        Path bare = tmp.resolve("bare");
        try (LoadedModel model = Checkpoint.loadWithProvenance(expanded, DType.FLOAT32, Device.CPU)) {
            Checkpoint.save(model, again);
            Checkpoint.save(model.model(), bare, SaveOptions.defaults());
            Checkpoint.save(model, expanded);  // back into the folder it was loaded from
        }
        assertEquals(listing(expanded), listing(again));
        assertEquals(Checkpoint.open(expanded).metadata().get(ExpansionMetadata.METADATA_KEY),
                Checkpoint.open(again).metadata().get(ExpansionMetadata.METADATA_KEY));
        assertEquals(Files.readString(expanded.resolve(ExpansionMetadata.FILE_NAME)), Files.readString(again.resolve(ExpansionMetadata.FILE_NAME)));
        assertEquals("kept", json(again.resolve("config.json")).get("custom_field").getAsString());
        assertTrue(listing(expanded).contains("tokenizer.json"), "saving into its own folder keeps the tokenizer: " + listing(expanded));

        assertEquals(List.of("config.json", "model.safetensors"), listing(bare), "SaveOptions.defaults() writes only the model");
        assertFalse(Checkpoint.open(bare).metadata().containsKey(ExpansionMetadata.METADATA_KEY));
    }

    @Test
    void aRandomModelStillSavesBare(@TempDir Path tmp) throws IOException {
        try (CausalLM model = CausalLM.random(TinyModel.config(), 1, 0.02, DType.FLOAT32, Device.CPU)) {
            Checkpoint.save(model, tmp.resolve("m"));
        }
        assertEquals(List.of("config.json", "model.safetensors"), listing(tmp.resolve("m")));
    }
}
