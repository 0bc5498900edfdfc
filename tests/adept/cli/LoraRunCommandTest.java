package adept.cli;

import static org.junit.jupiter.api.Assertions.*;

import adept.testing.TinyModel;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Mode lora as an arm of `adept run`: YAML spellings of its keys, the run's outputs, and a config that cannot match refused before any work. */
class LoraRunCommandTest {
    @TempDir
    Path dir;

    @Test
    void loraIsAnArmOfAdeptRun() throws Exception {
        TinyModel.write(dir.resolve("base"), 3);
        Files.writeString(dir.resolve("domain.jsonl"), String.join("\n", java.util.Collections.nCopies(60,
                "{\"text\": \"one plus two equals three . what is the answer ? the answer is three .\"}")) + "\n");
        Files.writeString(dir.resolve("heldout.txt"), "two plus two equals four . the cat sat on the mat .\n");
        String shared = """
                out: results
                model: base
                data: domain.jsonl
                eval: heldout.txt
                steps: 4
                block_size: 16
                batch_size: 2
                lr: 1e-3
                """;
        // lora_match as YAML reads a number, lora_targets as a list; no probe corpus needed
        Path cfg = Files.writeString(dir.resolve("lora.yaml"), shared + """
                runs:
                  - {name: lora-matched, mode: lora, k: 1}
                  - {name: lora-qv, mode: lora, lora_match: 3000, lora_targets: [q_proj, v_proj]}
                evaluate: {data: [heldout.txt]}
                """);
        TinyModel.Run r = TinyModel.adept("run", "--config", cfg.toString());
        assertEquals(0, r.exit(), r.err());
        Path out = dir.resolve("results");
        for (String run : new String[] {"lora-matched", "lora-qv"}) {
            assertTrue(Files.isRegularFile(out.resolve(run).resolve("model/model.safetensors")), run);
            assertTrue(Files.isRegularFile(out.resolve(run).resolve("adapter/adapter_model.safetensors")), run);
        }
        JsonObject peft = JsonParser.parseString(Files.readString(out.resolve("lora-qv/adapter/adapter_config.json"))).getAsJsonObject();
        assertEquals("[\"q_proj\",\"v_proj\"]", peft.get("target_modules").toString());
        // q [32, 32] and v [16, 32] on 4 layers: 4 * (64 + 48) = 448 a rank; 3000 is closest to rank 7 (3136)
        assertEquals(7, peft.get("r").getAsInt());
        assertTrue(Files.readString(out.resolve("evaluation.md")).contains("lora-qv"));

        Path bad = Files.writeString(dir.resolve("bad.yaml"), shared.replace("out: results", "out: nothing") + """
                runs: [{name: tiny, mode: lora, lora_match: 100}]
                """);
        TinyModel.adept("run", "--config", bad.toString()).assertUserError("nothing to match");
        assertFalse(Files.exists(dir.resolve("nothing")));
        Path badTargets = Files.writeString(dir.resolve("bad2.yaml"), shared.replace("out: results", "out: nothing") + """
                runs: [{name: t, mode: lora, lora_targets: q_proj}]
                """);
        TinyModel.adept("run", "--config", badTargets.toString()).assertUserError("lora_targets");
        assertFalse(Files.exists(dir.resolve("nothing")));
    }
}
