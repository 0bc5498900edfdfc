package adept.train;

import adept.eval.Perplexity;
import adept.io.checkpoint.FileOps;
import adept.tensor.Device;
import com.google.gson.Gson;
import com.google.gson.GsonBuilder;
import com.google.gson.JsonArray;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * A sweep's evaluation and results, as library calls: each finished run's held-out losses (cached in its folder,
 * so a rerun or a resumed sweep evaluates only what is new), the base model's, and one result per run with its
 * changes from the base, effective learning rate, trainable fraction and wall time. Training itself is the
 * {@link Trainer} on each of {@link SweepConfig#runs}.
 */
public final class Sweep {
    private Sweep() {}

    public static final String HELD_OUT_FILE = "heldout.json";
    public static final String BASE_FILE = "base-heldout.json";
    public static final String PARETO_JSON = "pareto.json";
    public static final String PARETO_PNG = "pareto.png";
    public static final String REPORT_MD = "sweep.md";
    static final Gson GSON = new GsonBuilder().setPrettyPrinting().disableHtmlEscaping().create();

    /** General and domain loss of one model. */
    public record Losses(double general, double domain) {}

    /** One finished run of the sweep. */
    public record Result(RunConfig.Run run, SweepConfig.GridPoint point, Losses losses, Losses change, double effectiveLrSum,
                         double meanRateMultiplier, double trainableFraction, double wallSeconds, List<Integer> copies) {}

    public static final String DIVERGED_FILE = "diverged.json";

    /** Records that a run diverged (its folder's diverged.json, beside its run.json): a rerun of the sweep skips it. */
    public static void markDiverged(RunConfig.Run run, String message) {
        JsonObject o = new JsonObject();
        o.addProperty("message", message);
        write(run.dir().resolve(DIVERGED_FILE), GSON.toJson(o) + "\n");
    }

    /** The message of a run that diverged with these settings, or null. */
    public static String diverged(RunConfig.Run run) {
        Path f = run.dir().resolve(DIVERGED_FILE);
        if (!Files.isRegularFile(f) || !run.started()) return null;
        try {
            return JsonParser.parseString(adept.io.checkpoint.FileOps.readUtf8(f, 1 << 20, "diverged.json")).getAsJsonObject().get("message").getAsString();
        } catch (RuntimeException unreadable) {
            return null;  // trained again
        }
    }

    /** The base model's losses (evaluated once, cached in out/base-heldout.json). */
    public static Losses base(SweepConfig c, Device device, HeldOut.Progress progress) {
        Path model = c.runs().get(0).settings().inputs().model();
        for (RunConfig.Run r : c.runs()) {
            if (!r.settings().inputs().model().equals(model)) throw new TrainException("a sweep compares runs from one base model; "
                    + r.name() + " starts from " + r.settings().inputs().model() + ", " + c.runs().get(0).name() + " from " + model);
        }
        return losses(c, model, c.out().resolve(BASE_FILE), device, progress);
    }

    /** A finished run's losses (cached in its folder; recomputed when the model or the evaluation settings changed). */
    public static Losses evaluate(SweepConfig c, RunConfig.Run run, Device device, HeldOut.Progress progress) {
        if (!run.done()) throw new TrainException(run.name() + " has not finished: train it first");
        return losses(c, run.model(), run.dir().resolve(HELD_OUT_FILE), device, progress);
    }

    /** The cached losses of a run, or null when they are missing or stale. */
    public static Losses cached(SweepConfig c, RunConfig.Run run) {
        return read(run.dir().resolve(HELD_OUT_FILE), key(c, run.model()));
    }

    private static Losses losses(SweepConfig c, Path model, Path cache, Device device, HeldOut.Progress progress) {
        JsonObject key = key(c, model);
        Losses cached = read(cache, key);
        if (cached != null) return cached;
        List<Perplexity.Result> r = HeldOut.evaluate(model, List.of(c.general(), c.domain()), c.evaluation(), device, progress);
        Losses l = new Losses(r.get(0).loss(), r.get(1).loss());
        JsonObject o = new JsonObject();
        o.add("key", key);
        o.addProperty("general_loss", l.general());
        o.addProperty("domain_loss", l.domain());
        o.addProperty("general_tokens", r.get(0).tokens());
        o.addProperty("domain_tokens", r.get(1).tokens());
        try {
            Files.createDirectories(cache.getParent());
            FileOps.writeStringAtomically(cache, GSON.toJson(o) + "\n");
        } catch (IOException e) {
            throw new UncheckedIOException("cannot write " + cache + ": " + e.getMessage(), e);
        }
        return l;
    }

    /** What the cached numbers depend on: the files, the evaluation settings and the model's weights (size and time). */
    private static JsonObject key(SweepConfig c, Path model) {
        JsonObject k = new JsonObject();
        k.addProperty("general", c.general().toString());
        k.addProperty("domain", c.domain().toString());
        k.addProperty("max_length", c.evaluation().maxLength());
        k.addProperty("max_tokens", c.evaluation().maxTokens());
        try (var files = Files.list(model)) {
            long size = 0;
            long newest = 0;
            for (Path f : (Iterable<Path>) files.filter(Files::isRegularFile)::iterator) {
                size += Files.size(f);
                newest = Math.max(newest, Files.getLastModifiedTime(f).toMillis());
            }
            k.addProperty("model_bytes", size);
            k.addProperty("model_modified_ms", newest);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read " + model + ": " + e.getMessage(), e);
        }
        return k;
    }

    private static Losses read(Path cache, JsonObject key) {
        if (!Files.isRegularFile(cache)) return null;
        try {
            JsonObject o = JsonParser.parseString(adept.io.checkpoint.FileOps.readUtf8(cache, 1 << 20, "losses cache")).getAsJsonObject();
            if (!key.equals(o.get("key"))) return null;
            double g = o.get("general_loss").getAsDouble();
            double d = o.get("domain_loss").getAsDouble();
            return Double.isFinite(g) && Double.isFinite(d) ? new Losses(g, d) : null;
        } catch (RuntimeException unreadable) {
            return null;  // evaluated again
        }
    }

    /** The result of a finished, evaluated run, from its summary.json and its losses. */
    public static Result result(SweepConfig c, int index, Losses base, Losses losses) {
        RunConfig.Run run = c.runs().get(index);
        Path file = run.dir().resolve(RunFolder.SUMMARY_FILE);
        JsonObject s;
        try {
            s = JsonParser.parseString(adept.io.checkpoint.FileOps.readUtf8(file, 1 << 20, "summary.json")).getAsJsonObject();
        } catch (RuntimeException e) {
            throw new TrainException(file + ": unreadable (" + RunConfig.firstLine(e.getMessage()) + "); delete " + run.dir() + " to train it again");
        }
        List<Integer> copies = new ArrayList<>();
        if (s.has("copies")) for (JsonElement x : s.getAsJsonArray("copies")) copies.add(x.getAsInt());
        double scheduled = number(s, "scheduled_lr_sum", Double.NaN);
        return new Result(run, c.points().get(index), losses, new Losses(losses.general() - base.general(), losses.domain() - base.domain()),
                number(s, "effective_lr_sum", scheduled), number(s, "mean_rate_multiplier", 1.0), number(s, "trainable_fraction", Double.NaN),
                number(s, "wall_seconds", Double.NaN), copies);
    }

    private static double number(JsonObject o, String key, double fallback) {
        JsonElement v = o.get(key);
        return v == null || v.isJsonNull() ? fallback : v.getAsDouble();
    }

    /** The Pareto runs of the results: curve, order by learning rate, setting = grid values without the seed. */
    public static List<Pareto.Run> paretoRuns(List<Result> results) {
        List<Pareto.Run> out = new ArrayList<>();
        for (Result r : results) {
            StringBuilder setting = new StringBuilder();
            for (var e : r.point().values().entrySet()) {
                if (e.getKey().equals("seed")) continue;
                if (setting.length() > 0) setting.append(", ");
                setting.append(e.getKey()).append(' ').append(SweepConfig.canonical(e.getValue()));
            }
            out.add(new Pareto.Run(r.point().curve(), r.run().settings().optimizer().lr(), setting.toString(), r.change().general(), r.change().domain()));
        }
        return out;
    }

    /** pareto.json: the base, one entry per run, each curve's settings and the matched-forgetting table. */
    public static JsonObject paretoJson(SweepConfig c, Losses base, List<Result> results, List<String> diverged) {
        JsonObject o = new JsonObject();
        JsonArray div = new JsonArray();
        diverged.forEach(div::add);
        o.add("diverged", div);
        o.addProperty("general", c.general().toString());
        o.addProperty("domain", c.domain().toString());
        JsonObject b = new JsonObject();
        b.addProperty("model", c.runs().get(0).settings().inputs().model().toString());
        b.addProperty("general_loss", base.general());
        b.addProperty("domain_loss", base.domain());
        o.add("base", b);
        JsonArray runs = new JsonArray();
        for (Result r : results) {
            JsonObject e = new JsonObject();
            e.addProperty("run", r.run().name());
            e.addProperty("curve", r.point().curve());
            e.addProperty("mode", r.run().settings().preparation().mode().label());
            JsonObject grid = new JsonObject();
            for (var g : r.point().values().entrySet()) grid.add(g.getKey(), g.getValue());
            e.add("grid", grid);
            e.addProperty("lr", r.run().settings().optimizer().lr());
            e.addProperty("seed", r.run().settings().inputs().seed());
            e.addProperty("rate_norm", r.run().settings().stage2().rateNorm().label());
            e.addProperty("general_loss", r.losses().general());
            e.addProperty("domain_loss", r.losses().domain());
            e.addProperty("general_change", r.change().general());
            e.addProperty("domain_change", r.change().domain());
            e.addProperty("effective_lr_sum", r.effectiveLrSum());
            e.addProperty("mean_rate_multiplier", r.meanRateMultiplier());
            e.addProperty("trainable_fraction", r.trainableFraction());
            e.addProperty("wall_seconds", r.wallSeconds());
            JsonArray copies = new JsonArray();
            r.copies().forEach(copies::add);
            e.add("copies", copies);
            runs.add(e);
        }
        o.add("runs", runs);
        Map<String, List<Pareto.Point>> curves = Pareto.curves(paretoRuns(results));
        JsonObject cs = new JsonObject();
        for (var e : curves.entrySet()) {
            JsonArray points = new JsonArray();
            for (Pareto.Point p : e.getValue()) {
                JsonObject x = new JsonObject();
                x.addProperty("setting", p.setting());
                x.addProperty("lr", p.order());
                x.addProperty("seeds", p.n());
                x.addProperty("general_change", p.general());
                addFinite(x, "general_change_sd", p.generalSd());
                x.addProperty("domain_change", p.domain());
                addFinite(x, "domain_change_sd", p.domainSd());
                points.add(x);
            }
            cs.add(e.getKey(), points);
        }
        o.add("curves", cs);
        JsonArray matched = new JsonArray();
        for (double budget : c.budgets()) {
            JsonObject m = new JsonObject();
            m.addProperty("budget", budget);
            JsonObject by = new JsonObject();
            String best = null;
            double bestValue = Double.NaN;
            for (var e : curves.entrySet()) {
                Pareto.AtBudget at = Pareto.atBudget(e.getKey(), e.getValue(), budget);
                JsonObject x = new JsonObject();
                x.addProperty("reached", at.reached());
                if (at.reached()) {
                    x.addProperty("domain_change", at.domain());
                    addFinite(x, "seed_sd", at.spread());
                    if (best == null || at.domain() < bestValue) {
                        best = e.getKey();
                        bestValue = at.domain();
                    }
                }
                by.add(e.getKey(), x);
            }
            m.add("curves", by);
            if (best != null) m.addProperty("best", best);
            matched.add(m);
        }
        o.add("matched_forgetting", matched);
        return o;
    }

    private static void addFinite(JsonObject o, String key, double v) {
        if (Double.isFinite(v)) o.addProperty(key, v);
    }

    /** sweep.md: every run, then each curve's domain change at each budget and the best curve there. */
    public static String markdown(SweepConfig c, Losses base, List<Result> results, List<String> diverged) {
        StringBuilder b = new StringBuilder();
        b.append("# Sweep: ").append(c.out().getFileName()).append("\n\n");
        b.append(String.format(Locale.ROOT, "Base model: general loss %.4f, domain loss %.4f (%s, %s). Changes are from the base; "
                + "lower domain change = more learned, higher general change = more forgotten. Effective lr = sum over steps of "
                + "the scheduled rate x the mean rate multiplier in force.%n%n", base.general(), base.domain(), HeldOut.label(c.general()),
                HeldOut.label(c.domain())));
        b.append("| run | curve | lr | seed | general change | domain change | effective lr sum | mean multiplier | trainable | wall s |\n");
        b.append("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|\n");
        for (Result r : results) {
            b.append(String.format(Locale.ROOT, "| %s | %s | %.3g | %d | %+.4f | %+.4f | %.4g | %.3f | %.1f%% | %.0f |%n", r.run().name(), r.point().curve(),
                    r.run().settings().optimizer().lr(), r.run().settings().inputs().seed(), r.change().general(), r.change().domain(), r.effectiveLrSum(),
                    r.meanRateMultiplier(), 100 * r.trainableFraction(), r.wallSeconds()));
        }
        if (!diverged.isEmpty()) b.append("\nDiverged (a non-finite loss; left out of the curves): ").append(String.join(", ", diverged)).append(".\n");
        Map<String, List<Pareto.Point>> curves = Pareto.curves(paretoRuns(results));
        b.append("\n## Domain change at matched forgetting\n\n");
        b.append("Each curve's domain change where its general change equals the budget, interpolated between neighbouring learning "
                + "rates (never extrapolated: \"not reached\" where the curve's grid does not span the budget); ± the seed standard deviation "
                + "where a setting has 2+ seeds.\n\n");
        b.append("| budget |");
        for (String curve : curves.keySet()) b.append(' ').append(curve).append(" |");
        b.append(" best |\n|---:|");
        b.append("---:|".repeat(curves.size())).append("---|\n");
        for (double budget : c.budgets()) {
            b.append(String.format(Locale.ROOT, "| +%.2f |", budget));
            String best = null;
            double bestValue = Double.NaN;
            for (var e : curves.entrySet()) {
                Pareto.AtBudget at = Pareto.atBudget(e.getKey(), e.getValue(), budget);
                if (!at.reached()) {
                    b.append(" not reached |");
                    continue;
                }
                b.append(String.format(Locale.ROOT, " %+.4f%s |", at.domain(), Double.isFinite(at.spread()) ? String.format(Locale.ROOT, " ± %.4f", at.spread()) : ""));
                if (best == null || at.domain() < bestValue) {
                    best = e.getKey();
                    bestValue = at.domain();
                }
            }
            b.append(' ').append(best == null ? "-" : best).append(" |\n");
        }
        return b.toString();
    }

    /** pareto.json and sweep.md of the results so far, in the sweep folder. */
    public static void writeResults(SweepConfig c, Losses base, List<Result> results, List<String> diverged) {
        write(c.out().resolve(PARETO_JSON), GSON.toJson(paretoJson(c, base, results, diverged)) + "\n");
        write(c.out().resolve(REPORT_MD), markdown(c, base, results, diverged));
    }

    /** Writes text atomically. */
    public static void write(Path file, String text) {
        try {
            Files.createDirectories(file.getParent());
            FileOps.writeStringAtomically(file, text);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot write " + file + ": " + e.getMessage(), e);
        }
    }
}
