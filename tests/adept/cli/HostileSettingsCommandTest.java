package adept.cli;

import static adept.testing.TinyModel.adept;
import static org.junit.jupiter.api.Assertions.*;

import adept.testing.TinyModel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Issue 20, stack traces: hostile settings, configs and logs end in one line naming the option, file or field (exit 2) before any work. */
class HostileSettingsCommandTest extends adept.testing.TrainFolder {
    List<String> train(Path out, String... extra) {
        return fullTraining(out, 2, 16, extra);
    }

    @Test
    void nonFiniteNumbersAreRefusedByName() {
        Path out = dir.resolve("out");
        for (String option : List.of("--lr", "--weight-decay", "--eps", "--beta1", "--beta2", "--max-grad-norm", "--expand-budget", "--quantile")) {
            for (String value : List.of("NaN", "Infinity", "-Infinity")) {
                String key = option.substring(2).replace('-', '_');
                adept(train(out, option, value).toArray(String[]::new)).assertUserError(key + " must be a finite number, got " + value);
            }
        }
        adept(train(out, "--rate-mode", "split", "--lr-low", "NaN").toArray(String[]::new)).assertUserError("lr_low must be a finite number");
        assertFalse(Files.exists(out), "nothing written");
    }

    @Test
    void float16AndIntegerTypesCannotTrain() {
        Path out = dir.resolve("out");
        adept(train(out, "--dtype", "float16").toArray(String[]::new)).assertUserError("dtype float16 cannot train here: use float32, bfloat16");
        adept(train(out, "--dtype", "int8").toArray(String[]::new)).assertUserError("dtype int8 cannot train here");
        assertFalse(Files.exists(out));
    }

    static final String SHARED = """
            out: results
            model: base
            data: domain.txt
            mode: full
            block_size: 16
            batch_size: 2
            """;

    TinyModel.Run run(String name, String text) throws Exception {
        Path cfg = Files.writeString(dir.resolve(name), text);
        return adept("run", "--config", cfg.toString(), "--dry-run");
    }

    @Test
    void hostileRunConfigsAreOneLine() throws Exception {
        run("octal.yaml", SHARED + "steps: 010\n").assertUserError("line 7: 010 is a YAML 1.1 octal number (8)");
        run("hex.yaml", SHARED + "steps: 0x10\n").assertUserError("hexadecimal");
        run("sexagesimal.yaml", SHARED + "steps: 1:30\n").assertUserError("base-60");
        assertEquals(0, run("quoted.yaml", SHARED + "steps: 10\nseed: 0\n").exit(), "plain numbers are fine");
        run("recursive.yaml", SHARED + "steps: 2\nlayers: &x [1, *x]\n").assertUserError("recursive alias");
        run("nan.yaml", SHARED + "steps: 2\nlr: .nan\n").assertUserError("nan.yaml: lr: expected a number, got NaN");
        run("int8.yaml", SHARED + "steps: 2\nevaluate: {data: [domain.txt], dtype: int8}\n").assertUserError("evaluate.dtype: int8 is not a floating-point type");
        Path latin1 = Files.write(dir.resolve("latin1.yaml"), (SHARED + "steps: 2\n# caf\u00e9\n").getBytes(StandardCharsets.ISO_8859_1));
        int offset = (SHARED + "steps: 2\n# caf").length();  // ASCII up to the Latin-1 e-acute
        adept("run", "--config", latin1.toString(), "--dry-run").assertUserError("latin1.yaml: not valid UTF-8 text (byte " + offset + ", line 8)");
        adept("run", "--config", "/dev/zero", "--dry-run").assertUserError("/dev/zero: not a regular file");
        Path fifo = dir.resolve("fifo.yaml");
        if (new ProcessBuilder("mkfifo", fifo.toString()).start().waitFor() == 0) {
            adept("run", "--config", fifo.toString(), "--dry-run").assertUserError("not a regular file");
        }
        Path big = Files.writeString(dir.resolve("big.yaml"), SHARED + "steps: 2\n" + "# padding\n".repeat(200_000));
        adept("run", "--config", big.toString(), "--dry-run").assertUserError("larger than");
        assertFalse(Files.exists(dir.resolve("results")));
    }

    Path runFolder(String metrics, String importance) throws Exception {
        Path run = Files.createDirectories(dir.resolve("run-" + Integer.toHexString((metrics + importance).hashCode())));
        Files.writeString(run.resolve("metrics.jsonl"), metrics);
        if (importance != null) Files.writeString(run.resolve("importance.jsonl"), importance);
        return run;
    }

    static final String GOOD = "{\"step\": 1, \"loss\": 3.5, \"lr\": 0.001}\n{\"step\": 2, \"loss\": 3.2, \"lr\": 0.001}\n";
    static final String UNIT = "{\"step\": 0, \"unit\": \"q\", \"layer\": 1, \"index\": 0, \"elements\": 4, \"importance\": 0.5, \"multiplier\": 1.0, \"frozen\": false}\n";

    @Test
    void damagedLogsAreOneLineNamingFileAndLine() throws Exception {
        assertEquals(0, adept("plot", "--run", runFolder(GOOD, UNIT).toString()).exit());
        assertEquals(0, adept("plot", "--run", runFolder(GOOD + "{\"step\": 3, \"lo", UNIT).toString()).exit(), "a torn last line is skipped");
        adept("plot", "--run", runFolder("{\"step\": \"one\", \"loss\": 3}\n" + GOOD, null).toString()).assertUserError("metrics.jsonl:1: step must be a whole number");
        adept("plot", "--run", runFolder(GOOD + "{\"step\": null, \"loss\": 3}\n" + GOOD, null).toString()).assertUserError("metrics.jsonl:3: step must be");
        adept("plot", "--run", runFolder("{\"step\": 1, \"loss\": NaN}\n" + GOOD, null).toString()).assertUserError("metrics.jsonl:1: loss must be a finite number");
        adept("plot", "--run", runFolder("{\"step\": 1, \"loss\": 3}\nnot json\n" + GOOD, null).toString()).assertUserError("metrics.jsonl:2: not a JSON object");
        adept("plot", "--run", runFolder(GOOD, UNIT.replace("\"index\": 0", "\"index\": 2e9")).toString()).assertUserError("importance.jsonl:1: index must be a whole number");
        adept("plot", "--run", runFolder(GOOD, UNIT.replace("\"index\": 0", "\"index\": -1")).toString()).assertUserError("importance.jsonl:1: index must be");
        adept("plot", "--run", runFolder(GOOD, UNIT.replace("\"layer\": 1, ", "")).toString()).assertUserError("importance.jsonl:1: no layer");
        adept("plot", "--run", runFolder(GOOD, UNIT.replace("\"layer\": 1", "\"layer\": 5000")).toString()).assertUserError("layer must be a whole number in [-1, 4095]");
        Path devZero = runFolder(GOOD, null);
        Files.createSymbolicLink(devZero.resolve("importance.jsonl"), Path.of("/dev/zero"));
        adept("plot", "--run", devZero.toString()).assertUserError("importance.jsonl: not a regular file");
        Path bad = runFolder(GOOD, null);
        Files.write(bad.resolve("metrics.jsonl"), "{\"step\": 1, \"loss\": 3, \"note\": \"caf\u00e9\"}\n".getBytes(StandardCharsets.ISO_8859_1), java.nio.file.StandardOpenOption.APPEND);
        Files.writeString(bad.resolve("metrics.jsonl"), GOOD, java.nio.file.StandardOpenOption.APPEND);
        int badByte = (GOOD + "{\"step\": 1, \"loss\": 3, \"note\": \"caf").length();
        adept("plot", "--run", bad.toString()).assertUserError("metrics.jsonl:3: not valid UTF-8 (byte " + badByte + " of the file)");
    }

    @Test
    void impossibleInitSizesAreRefusedBeforeAllocating() {
        adept("init", "--tokenizer", model.toString(), "--out", dir.resolve("huge").toString(), "--layers", "1000000")
                .assertUsageError("--layers 1000000");
        adept("init", "--tokenizer", model.toString(), "--out", dir.resolve("huge").toString(), "--hidden", "1000000", "--heads", "8", "--kv-heads", "4")
                .assertUsageError("--hidden 1000000");
        assertFalse(Files.exists(dir.resolve("huge")));
    }
}
