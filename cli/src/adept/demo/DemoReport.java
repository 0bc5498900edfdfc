package adept.demo;

import adept.train.RunFolder;
import adept.io.checkpoint.FileOps;
import adept.report.BarChart;
import adept.report.LineChart;
import adept.train.RunLog;
import adept.train.Setting;
import adept.train.TrainSettings;
import adept.train.Trainer;
import com.google.gson.JsonArray;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Locale;
import java.util.Set;
import java.util.function.Consumer;

/** The demo's outputs: the comparison table, plots, report.md and the adept command lines of every step. */
public final class DemoReport {
    private DemoReport() {}

    public static final String REPORT = "report.md";

    /** The comparison as a fixed-width text table (what the terminal shows). */
    public static String table(List<Demo.Row> rows, String domain) {
        StringBuilder b = new StringBuilder();
        String dom = domain.length() > 12 ? domain.substring(0, 12) : domain;
        b.append(String.format(Locale.ROOT, "%-10s %13s %13s %24s %11s %8s%n", "model", "general loss", dom + " loss", "trainable parameters", "train time",
                "eff. lr"));
        for (Demo.Row r : rows) {
            b.append(String.format(Locale.ROOT, "%-10s %13.4f %13.4f %14s (%5.1f%%) %10.0fs %8s%n", r.name(), r.generalLoss(), r.domainLoss(),
                    String.format(Locale.ROOT, "%,d", r.trainable()), 100.0 * r.trainable() / r.total(), r.trainSeconds(), rate(r)));
        }
        return b.toString();
    }

    /** The mean rate multiplier the run applied over its steps ("x1.99": 1.99 times the scheduled rate); "-" for the base. */
    static String rate(Demo.Row r) {
        return Double.isNaN(r.rateMultiplier()) ? "-" : String.format(Locale.ROOT, "x%.2f", r.rateMultiplier());
    }

    static Path write(Demo demo, DemoSettings s, List<Demo.Row> rows, String domain, String launcher, Consumer<String> info) {
        Path out = demo.out();
        try {
            List<String> plots = new ArrayList<>();
            Path pretrainPlot = demo.run("pretrain").resolve("loss.png");
            if (Files.exists(pretrainPlot)) {
                Files.copy(pretrainPlot, out.resolve("pretraining_loss.png"), StandardCopyOption.REPLACE_EXISTING);
                plots.add("pretraining_loss.png");
            }
            writePng(out.resolve("adaptation_loss.png"), adaptationChart(demo, domain).png(1200, 640));
            plots.add("adaptation_loss.png");
            JsonObject adept = Demo.readJson(demo.run("adept").resolve("summary.json"));
            double[] dl = adept.has("layer_dl") ? toArray(adept.getAsJsonArray("layer_dl")) : new double[0];
            Set<Integer> picked = lowest(dl, s.k);
            if (dl.length > 0) {
                writePng(out.resolve("layer_importance.png"), new BarChart("Layer importance of the base model (stage 1 probing)",
                        "dL = probe loss with the layer bypassed - probe loss; adept copies the " + s.k + " lowest", "layer", "dL (nats/token)", dl,
                        picked, "layer", "copied by adept").png());
                plots.add("layer_importance.png");
            }
            Path units = demo.run("adept").resolve("importance.png");
            if (Files.exists(units)) {
                Files.copy(units, out.resolve("unit_importance.png"), StandardCopyOption.REPLACE_EXISTING);
                plots.add("unit_importance.png");
            }
            String commands = commands(demo, s, launcher);
            FileOps.writeStringAtomically(out.resolve("commands.sh"), commands);
            String md = markdown(demo, s, rows, domain, dl, picked, commands);
            Path report = out.resolve(REPORT);
            FileOps.writeStringAtomically(report, md);
            info.accept("report: " + report + " (plots: " + String.join(", ", plots) + ")");
            return report;
        } catch (IOException e) {
            throw new UncheckedIOException("cannot write the report into " + out + ": " + e.getMessage(), e);
        }
    }

    private static void writePng(Path file, byte[] png) throws IOException {
        FileOps.writeAtomically(file, channel -> FileOps.writeFully(channel, ByteBuffer.wrap(png)));
    }

    /** Each mode's training loss (moving average) and held-out domain loss on one chart. */
    static LineChart adaptationChart(Demo demo, String domain) {
        List<LineChart.Series> series = new ArrayList<>();
        for (String mode : Demo.MODES) {
            List<JsonObject> metrics = RunLog.read(demo.run(mode).resolve(RunFolder.METRICS_FILE));
            List<double[]> train = new ArrayList<>();
            List<double[]> eval = new ArrayList<>();
            for (JsonObject o : metrics) {
                if (o.has("loss")) train.add(new double[] {o.get("step").getAsDouble(), o.get("loss").getAsDouble()});
                if (o.has("eval_loss")) eval.add(new double[] {o.get("step").getAsDouble(), o.get("eval_loss").getAsDouble()});
            }
            double[] x = train.stream().mapToDouble(p -> p[0]).toArray();
            double[] y = movingAverage(train.stream().mapToDouble(p -> p[1]).toArray(), 10);
            series.add(new LineChart.Series(mode + " training (moving average of 10)", x, y));
            series.add(new LineChart.Series(mode + " held-out " + domain, eval.stream().mapToDouble(p -> p[0]).toArray(),
                    eval.stream().mapToDouble(p -> p[1]).toArray()));
        }
        return new LineChart("Adapting the base model to " + domain, "same token budget per mode; next-token cross-entropy",
                "optimizer step", "loss (nats/token)", series);
    }

    static double[] movingAverage(double[] v, int window) {
        double[] out = new double[v.length];
        double sum = 0;
        for (int i = 0; i < v.length; i++) {
            sum += v[i];
            if (i >= window) sum -= v[i - window];
            out[i] = sum / Math.min(i + 1, window);
        }
        return out;
    }

    static Set<Integer> lowest(double[] dl, int k) {
        List<Integer> order = new ArrayList<>();
        for (int i = 0; i < dl.length; i++) order.add(i);
        order.sort(Comparator.<Integer>comparingDouble(i -> dl[i]).thenComparingInt(i -> i));
        return new LinkedHashSet<>(order.subList(0, Math.min(k, order.size())));
    }

    private static double[] toArray(JsonArray a) {
        double[] v = new double[a.size()];
        for (int i = 0; i < v.length; i++) v[i] = a.get(i).getAsDouble();
        return v;
    }

    /** The adept command lines that redo each training step and evaluate / sample every model. */
    static String commands(Demo demo, DemoSettings s, String launcher) {
        Path out = demo.out();
        StringBuilder b = new StringBuilder();
        b.append("#!/usr/bin/env bash\n# The steps of '").append(launcher).append("' as separate adept commands (run from the adept folder).\n");
        b.append("# Paths are the ones this demo wrote; the training commands resume / reuse what is there (add --restart to redo).\n");
        b.append("set -euo pipefail\nD=").append(shell(out.toString())).append("\n\n");
        b.append("# 2. tokenizer (the demo then converts spm.model's pieces to tokenizer.json; see src/adept/demo/SentencePieceTokenizer.java)\n");
        List<String> spm = SentencePieceTokenizer.trainCommand(demo.data("tokenizer_input.txt"), demo.tokenizerDir().resolve("spm"), s.vocabSize, 2);
        b.append(String.join(" ", spm.stream().map(a -> relative(a, out)).toList())).append("\n\n");
        b.append("# 3. pretraining from the random init in $D/models/init (written by adept demo: CausalLM.random + the tokenizer)\n");
        b.append(train(demo.pretrainSettings(), out)).append("\n\n");
        int i = 4;
        for (String mode : Demo.MODES) {
            b.append("# ").append(i++).append(". adaptation with ").append(mode).append("\n");
            b.append(train(demo.adaptSettings(mode), out)).append("\n\n");
        }
        b.append("# 7. evaluation and samples\n");
        for (String name : demo.modelNames()) {
            String model = relative(demo.modelOf(name).toString(), out);
            b.append("./adept eval --model ").append(model).append(" --data $D/data/general_heldout.jsonl --max-length ").append(s.blockSize)
                    .append(" --batch-size ").append(s.batchSize).append('\n');
            b.append("./adept eval --model ").append(model).append(" --data $D/data/math_heldout.jsonl --max-length ").append(s.blockSize)
                    .append(" --batch-size ").append(s.batchSize).append('\n');
            b.append("./adept generate --model ").append(model).append(" --prompt ").append(shell(Demo.DOMAIN_PROMPT))
                    .append(" --max-new-tokens ").append(s.generateTokens).append(" --temperature 0.8 --top-p 0.9 --seed ").append(s.seed).append('\n');
        }
        b.append("./adept probe --model ").append(relative(demo.baseModel().toString(), out)).append(" --probe $D/data/general_probe.jsonl --out $D/probe\n");
        return b.toString();
    }

    /** `./adept train` with every setting that differs from the command's defaults. */
    static String train(TrainSettings t, Path out) {
        StringBuilder b = new StringBuilder("./adept train");
        for (Setting k : Setting.all()) {
            Object v = k.valueIn(t);
            if (v == null || v.equals(k.defaultValue())) continue;
            String value = v instanceof Path ? relative(k.format(v), out) : shell(k.format(v));
            b.append(' ').append(k.option()).append(' ').append(value);
        }
        return b.toString();
    }

    private static String relative(String path, Path out) {
        Path p = Path.of(path);
        return p.startsWith(out) ? "$D/" + out.relativize(p) : shell(path);
    }

    private static String shell(String s) {
        return s.matches("[A-Za-z0-9_./=:,+-]+") ? s : "'" + s.replace("'", "'\\''") + "'";
    }

    static String markdown(Demo demo, DemoSettings s, List<Demo.Row> rows, String domain, double[] dl, Set<Integer> picked, String commands) {
        Path out = demo.out();
        JsonObject corpus = Demo.readJson(demo.data("corpus.json"));
        StringBuilder b = new StringBuilder();
        b.append("# adept demo: ADEPT against full continual pretraining and LLaMA-Pro\n\n");
        b.append("Settings: ").append(s.describe()).append(".\n\n");
        b.append("## Text\n\n");
        b.append(String.format(Locale.ROOT, "- general English: %d training documents (%,d characters), %d probe documents, %d held-out documents (%s)%n",
                corpus.get("general_train").getAsInt(), corpus.get("general_chars").getAsLong(), corpus.get("general_probe_documents").getAsInt(),
                corpus.get("general_heldout").getAsInt(), corpus.get("general_sources").getAsString()));
        b.append(String.format(Locale.ROOT, "- %s: %d training documents (%,d characters), %d held-out documents (%s)%n%n", domain,
                corpus.get("domain_train").getAsInt(), corpus.get("domain_chars").getAsLong(), corpus.get("domain_heldout").getAsInt(),
                corpus.get("domain_sources").getAsString()));
        JsonArray origins = corpus.getAsJsonArray("origins");
        if (origins != null && !origins.isEmpty()) {
            b.append("| package | version | licence | used for |\n|---|---|---|---|\n");
            for (JsonElement e : origins) {
                JsonObject o = e.getAsJsonObject();
                b.append("| ").append(o.get("name").getAsString()).append(" | ").append(o.get("version").getAsString()).append(" | ")
                        .append(o.get("licence").getAsString()).append(" | ").append(o.get("what").getAsString()).append(" |\n");
            }
            b.append('\n');
        }
        b.append("## Results\n\n");
        b.append("Held-out loss in nats per token (lower is better); `base` is the pretrained model before adaptation, its time the pretraining's.\n\n");
        b.append("| model | general loss | ").append(domain).append(" loss | trainable parameters | train time | effective lr |\n|---|---:|---:|---:|---:|---:|\n");
        for (Demo.Row r : rows) {
            b.append(String.format(Locale.ROOT, "| %s | %.4f | %.4f | %,d of %,d (%.1f%%) | %.0f s | %s |%n", r.name(), r.generalLoss(), r.domainLoss(),
                    r.trainable(), r.total(), 100.0 * r.trainable() / r.total(), r.trainSeconds(), rate(r)));
        }
        b.append("\nEffective lr: the mean rate multiplier each run applied over its steps (sum of scheduled rate x element-weighted mean multiplier, "
                + "over the sum of scheduled rates). Every mode ran at the same base rate, so a mode above x1.00 trained at a larger effective rate, "
                + "and \"adapts more, forgets more\" at one rate is what a larger rate alone gives: compare modes at matched forgetting over a "
                + "learning-rate grid (`adept sweep`; the study in docs/results.md) before ranking them.\n");
        b.append("\n```\n").append(table(rows, domain)).append("```\n\n");
        if (dl.length > 0) {
            b.append("Layer importance (stage 1, dL per layer of the base model): ");
            List<String> parts = new ArrayList<>();
            for (int i = 0; i < dl.length; i++) parts.add(String.format(Locale.ROOT, "%d: %.4f%s", i, dl[i], picked.contains(i) ? " (copied)" : ""));
            b.append(String.join(", ", parts)).append(".\n\n");
        }
        b.append("## Plots\n\n");
        for (String[] p : new String[][] {{"pretraining_loss.png", "Pretraining loss (training and held-out general)"},
                {"adaptation_loss.png", "Adaptation: training and held-out " + domain + " loss per mode"},
                {"layer_importance.png", "Layer importance (dL per layer)"}, {"unit_importance.png", "Unit importance of adept's copies"}}) {
            if (Files.exists(out.resolve(p[0]))) b.append("### ").append(p[1]).append("\n\n![").append(p[1]).append("](").append(p[0]).append(")\n\n");
        }
        b.append("## Samples\n\nTemperature 0.8, top-p 0.9, seed ").append(s.seed).append(".\n\n");
        for (Demo.Row r : rows) {
            b.append("**").append(r.name()).append("**\n\n```\n").append(r.generalSample()).append("\n```\n```\n").append(r.domainSample()).append("\n```\n\n");
        }
        b.append("## Files\n\n");
        b.append("- `data/`: the corpora (JSON Lines), `corpus.json` their counts and origins\n");
        b.append("- `tokenizer/`: SentencePiece model (`spm.model`), `tokenizer.json`, `tokenizer_config.json`\n");
        b.append("- `models/init/`: the random initialisation; `runs/pretrain/model/`: the base model\n");
        b.append("- `runs/{full,llama-pro,adept}/`: each adaptation run (run.json, metrics.jsonl, summary.json, loss.png, checkpoints/, model/)\n");
        b.append("- `results/`: the evaluation of each model; `commands.sh`: the commands below\n\n");
        b.append("## Reproducing each step with adept's commands\n\n```bash\n").append(commands).append("```\n");
        return b.toString();
    }
}
