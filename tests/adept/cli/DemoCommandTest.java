package adept.cli;

import adept.train.TrainListener;
import static org.junit.jupiter.api.Assertions.*;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import adept.demo.Demo;
import adept.demo.DemoReport;
import adept.demo.DemoSettings;
import adept.demo.TextCleaning;
import adept.demo.TextSource;
import adept.io.tokenizer.Tokenizer;
import adept.train.Trainer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.function.Consumer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The demo pipeline on tiny sizes with a local text source (no network): outputs, table, tokenizer, resume, skip. */
class DemoCommandTest {
    @TempDir
    Path dir;

    static final String[] GENERAL = ("the king and his people went to the city by the river in the morning light and they spoke of bread"
            + " wine gold silver house field water fire land sea wind heart love peace war night day year man woman child").split(" ");
    static final String[] MATH = ("let x be an integer the function returns the polynomial modulo prime field matrix vector sum of"
            + " squares zeta series root degree = + * ^ ( ) 0 1 2 3 4 5 6 7 8 9").split(" ");

    /** Seeded sentences of a vocabulary, cut into documents by the demo's own cutter. */
    static List<TextSource.Document> documents(String[] words, String source, int count, long seed) {
        Random r = new Random(seed);
        List<String> paragraphs = new ArrayList<>();
        for (int p = 0; p < count * 4; p++) {
            StringBuilder b = new StringBuilder();
            int sentences = 3 + r.nextInt(4);
            for (int s = 0; s < sentences; s++) {
                int n = 6 + r.nextInt(10);
                for (int w = 0; w < n; w++) b.append(w == 0 ? "" : " ").append(words[r.nextInt(words.length)]);
                b.append(s + 1 < sentences && r.nextInt(4) == 0 ? ".\n" : ". ");
            }
            paragraphs.add(b.toString().strip());
        }
        List<TextSource.Document> out = new ArrayList<>();
        for (String d : TextCleaning.documents(paragraphs, "\n\n", r, 100)) out.add(new TextSource.Document(d, source));
        return out;
    }

    static final class LocalText implements TextSource {
        int reads;

        @Override
        public Text read(Path cache, Consumer<String> log) {
            reads++;
            return new Text(documents(GENERAL, "local-general", 60, 1), documents(MATH, "local-math", 30, 2),
                    List.of(new Origin("local", "1", "test", "synthetic text")));
        }
    }

    static DemoSettings tiny() {
        DemoSettings s = new DemoSettings();
        s.name = "test";
        s.heldoutDocs = 3;
        s.probeItems = 4;
        s.vocabSize = 400;
        s.hidden = 32;
        s.layers = 4;
        s.heads = 4;
        s.kvHeads = 2;
        s.intermediate = 64;
        s.blockSize = 32;
        s.batchSize = 2;
        s.pretrainSteps = 8;
        s.pretrainLr = 3e-3;
        s.adaptSteps = 4;
        s.adaptLr = 3e-3;
        s.k = 2;
        s.refreshEvery = 2;
        s.curveTokens = 128;
        s.generateTokens = 4;
        return s;
    }

    static final class Recorder implements Demo.Listener {
        final List<String> stages = new ArrayList<>();
        final AtomicBoolean stop;
        final long stopAfter;

        Recorder(AtomicBoolean stop, long stopAfter) {
            this.stop = stop;
            this.stopAfter = stopAfter;
        }

        @Override
        public void stage(int index, int count, String what, boolean skipped) {
            stages.add("[" + index + "/" + count + "]" + (skipped ? " skipped" : " ran"));
        }

        @Override
        public void info(String line) {}

        @Override
        public TrainListener trainer(String label) {
            return new TrainListener() {
                @Override
                public void step(long step, long steps, double loss, double lr, double tokensPerSecond) {
                    if (stopAfter > 0 && label.equals("pretrain") && step == stopAfter) stop.set(true);
                }
            };
        }
    }

    static boolean haveSentencePiece() {
        for (String p : System.getenv().getOrDefault("PATH", "/usr/bin").split(":")) {
            if (Files.isExecutable(Path.of(p, "spm_train"))) return true;
        }
        return false;
    }

    @Test
    void pipelineWritesReportResumesAndSkipsFinishedStages() throws Exception {
        assumeTrue(haveSentencePiece(), "spm_train missing: tools/setup.sh installs Debian's sentencepiece");
        Path out = dir.resolve("demo");
        LocalText text = new LocalText();

        // Interrupted during pretraining (as Ctrl-C does): a checkpoint, status INTERRUPTED.
        AtomicBoolean stop = new AtomicBoolean();
        Recorder first = new Recorder(stop, 3);
        Demo.Result r1 = new Demo(tiny(), text, out, dir.resolve("cache"), first, stop, "test").run();
        assertEquals(Demo.Status.INTERRUPTED, r1.status());
        assertEquals(List.of("[1/7] ran", "[2/7] ran", "[3/7] ran"), first.stages);
        assertFalse(Files.exists(out.resolve("runs/pretrain/model")));

        // Rerun: text and tokenizer skipped, pretraining resumes, everything else runs.
        Recorder second = new Recorder(new AtomicBoolean(), 0);
        Demo.Result r2 = new Demo(tiny(), text, out, dir.resolve("cache"), second, new AtomicBoolean(), "test").run();
        assertEquals(Demo.Status.COMPLETED, r2.status());
        assertEquals(List.of("[1/7] skipped", "[2/7] skipped", "[3/7] ran", "[4/7] ran", "[5/7] ran", "[6/7] ran", "[7/7] ran"), second.stages);
        assertEquals(1, text.reads, "the text source is read once");
        assertEquals(8, adept.train.RunLog.read(out.resolve("runs/pretrain/metrics.jsonl")).stream().filter(o -> o.has("loss")).count(),
                "pretraining resumed: 8 steps logged in all");

        assertEquals(List.of("base", "full", "llama-pro", "adept"), r2.rows().stream().map(Demo.Row::name).toList());
        for (Demo.Row row : r2.rows()) {
            assertTrue(Double.isFinite(row.generalLoss()) && Double.isFinite(row.domainLoss()), row.name());
            assertTrue(Files.isRegularFile(row.model().resolve("model.safetensors")), row.name() + " checkpoint");
        }
        Demo.Row full = r2.rows().get(1);
        Demo.Row adept = r2.rows().get(3);
        assertEquals(full.trainable(), full.total(), "full trains everything");
        assertTrue(adept.trainable() < adept.total(), "adept trains its copies only");
        String table = DemoReport.table(r2.rows(), "mathematics");
        assertEquals(5, table.strip().split("\n").length, "header + four models:\n" + table);
        for (String f : List.of("report.md", "commands.sh", "pretraining_loss.png", "adaptation_loss.png", "layer_importance.png",
                "unit_importance.png", "data/general_train.jsonl", "data/general_heldout.jsonl", "data/general_probe.jsonl",
                "data/math_train.jsonl", "data/math_heldout.jsonl", "tokenizer/tokenizer.json", "tokenizer/spm.model")) {
            assertTrue(Files.isRegularFile(out.resolve(f)), f + " written");
        }
        String report = Files.readString(out.resolve("report.md"));
        assertTrue(report.contains("./adept train") && report.contains("--mode llama-pro") && report.contains("./adept eval")
                && report.contains("--save-every"), report);

        // Rerun of a finished demo: every stage skipped, same table.
        Recorder third = new Recorder(new AtomicBoolean(), 0);
        Demo.Result r3 = new Demo(tiny(), text, out, dir.resolve("cache"), third, new AtomicBoolean(), "test").run();
        assertEquals(List.of("[1/7] skipped", "[2/7] skipped", "[3/7] skipped", "[4/7] skipped", "[5/7] skipped", "[6/7] skipped",
                "[7/7] skipped"), third.stages);
        assertEquals(table, DemoReport.table(r3.rows(), "mathematics"));

        // Other sizes in the same folder are refused.
        DemoSettings other = tiny();
        other.pretrainSteps = 9;
        var e = assertThrows(adept.demo.DemoException.class,
                () -> new Demo(other, text, out, dir.resolve("cache"), third, new AtomicBoolean(), "test").run());
        assertTrue(e.getMessage().contains("other settings"), e.getMessage());

        // The tokenizer round-trips text through adept's Tokenizer, newlines and unseen characters included.
        try (Tokenizer tokenizer = Tokenizer.load(out.resolve("runs/adept/model"))) {
            for (String sample : List.of("the king went to the city.", "let x be an integer\nthe function returns 42.\n\nsum of squares",
                    "unseen: Zürich ∑ {x} @#%")) {
                long[] ids = tokenizer.encode(sample);
                assertEquals(sample, tokenizer.decode(ids, true), "round trip of " + sample);
            }
            assertEquals(1, tokenizer.bosId().orElseThrow());
            assertEquals(2, tokenizer.eosId().orElseThrow());
            assertTrue(tokenizer.addsBosByDefault());
        }
    }

    @Test
    void texIsStrippedLightly() {
        String tex = "% a comment\n\\section{Warming up}\nType \\kbd{1/0}.\\label{se:x} Then $x^2$~is \\emph{nice}.\n\\fun{GEN}{gadd}{GEN x, GEN y}\n";
        assertEquals("Warming up\nType 1/0. Then x^2 is nice.\nGEN gadd GEN x, GEN y", TextCleaning.stripTex(tex));
    }
}
