package adept.train;

import static org.junit.jupiter.api.Assertions.*;

import adept.optim.LrSchedule;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.NavigableMap;
import java.util.TreeSet;
import java.util.concurrent.atomic.AtomicBoolean;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Importance refreshes at exactly steps 0, R, 2R, ...; a stopped and resumed run refreshes at the same steps with
 * the same importances; the effective learning rate in the metrics and the summary; a rerun of a finished run.
 */
class RefreshCadenceTest {
    @TempDir
    Path dir;

    static TrainSettings settings(Path dir, String name) throws Exception {
        TrainSettings s = TrainFixtures.settings(dir, "adept").toBuilder().out(dir.resolve(name)).steps(25).refreshEvery(10).saveEvery(5L).build();
        return s;
    }

    static List<JsonObject> read(Path run, String file) {
        return RunLog.read(run.resolve(file));
    }

    static JsonObject summary(Path run) throws Exception {
        return JsonParser.parseString(Files.readString(run.resolve(RunFolder.SUMMARY_FILE))).getAsJsonObject();
    }

    @Test
    void refreshesAtMultiplesOfRAndAResumedRunRefreshesTheSame() throws Exception {
        TrainSettings whole = settings(dir, "whole");
        Trainer.Result a = new Trainer(whole).run();
        Path wholeDir = whole.output().out();
        TreeSet<Long> steps = new TreeSet<>();
        for (JsonObject o : read(wholeDir, RunFolder.IMPORTANCE_FILE)) steps.add(o.get("step").getAsLong());
        assertEquals(List.of(0L, 10L, 20L), new ArrayList<>(steps), "refreshes at steps 0, R, 2R");

        TrainSettings split = settings(dir, "split");
        AtomicBoolean stop = new AtomicBoolean();
        TrainListener stopAt13 = new TrainListener() {
            @Override
            public void step(long step, long total, double loss, double lr, double tokensPerSecond) {
                if (step == 13) stop.set(true);
            }
        };
        Trainer.Result first = new Trainer(split).listen(stopAt13).stopWhen(stop).run();
        assertEquals(Trainer.Status.INTERRUPTED, first.status());
        Trainer.Result b = new Trainer(split).run();
        assertEquals(Trainer.Status.COMPLETED, b.status());
        Path splitDir = split.output().out();
        List<JsonObject> wholeImportance = read(wholeDir, RunFolder.IMPORTANCE_FILE);
        List<JsonObject> splitImportance = read(splitDir, RunFolder.IMPORTANCE_FILE);
        assertEquals(wholeImportance.size(), splitImportance.size());
        for (int i = 0; i < wholeImportance.size(); i++) {
            assertEquals(wholeImportance.get(i), splitImportance.get(i), "importance line " + i + " after resume");
        }
        assertEquals(a.lastLoss(), b.lastLoss(), 0.0, "the same final loss");
        assertEquals(summary(wholeDir).get("effective_lr_sum").getAsDouble(), summary(splitDir).get("effective_lr_sum").getAsDouble(), 1e-12);
    }

    @Test
    void effectiveRateIsTheScheduleTimesTheMeanMultiplierInForce() throws Exception {
        for (String norm : List.of("global", "mean")) {
            TrainSettings s = settings(dir, "rate-" + norm).toBuilder().rateNorm(adept.tune.RateNorm.parse(norm)).build();
            new Trainer(s).run();
            Path run = s.output().out();
            NavigableMap<Long, Double> refreshes = EffectiveRate.fromImportanceLog(run.resolve(RunFolder.IMPORTANCE_FILE));
            assertEquals(1.0, refreshes.get(0L), 1e-12, "right after expansion every rate is the base rate");
            // the optimizer's own per-element statistics (metrics) agree with the unit-weighted log
            for (JsonObject line : read(run, RunFolder.METRICS_FILE)) {
                if (!line.has("rate_mean")) continue;
                long step = line.get("step").getAsLong();  // after the update of step - 1
                assertEquals(refreshes.floorEntry(step - 1).getValue(), line.get("rate_mean").getAsDouble(), 1e-6, norm + " step " + step);
                assertEquals(line.get("lr").getAsDouble() * line.get("rate_mean").getAsDouble(), line.get("effective_lr").getAsDouble(), 1e-15);
            }
            double after = refreshes.get(10L);
            if (norm.equals("mean")) assertEquals(1.0, after, 1e-9, "mean: rates redistributed, never raised");
            else assertTrue(after > 1.2, "global: the norm vectors set the maximum, the matrices' rates rise (mean " + after + ")");
            JsonObject summary = summary(run);
            LrSchedule schedule = new LrSchedule(s.optimizer().schedule(), s.optimizer().lr(), s.warmup(), s.optimizer().steps());
            double expected = 0;
            double scheduled = 0;
            for (long t = 0; t < s.optimizer().steps(); t++) {
                double w = t < 10 ? refreshes.get(0L) : t < 20 ? refreshes.get(10L) : refreshes.get(20L);
                expected += schedule.rate(t) * w;
                scheduled += schedule.rate(t);
            }
            assertEquals(expected, summary.get("effective_lr_sum").getAsDouble(), 1e-12);
            assertEquals(scheduled, summary.get("scheduled_lr_sum").getAsDouble(), 1e-12);
            assertEquals(norm, summary.get("rate_norm").getAsString());
        }
    }

    @Test
    void aRerunOfAFinishedRunReportsItsTrueLossAndChangesNothing() throws Exception {
        TrainSettings s = settings(dir, "rerun").toBuilder().steps(10).build();
        Trainer.Result first = new Trainer(s).run();
        Path run = s.output().out();
        String summaryBefore = Files.readString(run.resolve(RunFolder.SUMMARY_FILE));
        var modelTime = Files.getLastModifiedTime(run.resolve(RunFolder.MODEL_DIR).resolve("model.safetensors"));
        List<String> lines = new ArrayList<>();
        Trainer.Result again = new Trainer(s).listen(new TrainListener() {
            @Override
            public void info(String line) {
                lines.add(line);
            }
        }).run();
        assertEquals(Trainer.Status.COMPLETED, again.status());
        assertTrue(Double.isFinite(again.lastLoss()));
        assertEquals(first.lastLoss(), again.lastLoss(), 0.0);
        assertEquals(summaryBefore, Files.readString(run.resolve(RunFolder.SUMMARY_FILE)), "summary unchanged");
        assertEquals(modelTime, Files.getLastModifiedTime(run.resolve(RunFolder.MODEL_DIR).resolve("model.safetensors")), "model not rewritten");
        assertTrue(lines.stream().anyMatch(l -> l.contains("nothing to do")), String.join("\n", lines));

        // a summary written with NaN by an older version: the rerun rewrites it with the metrics' last loss
        Files.writeString(run.resolve(RunFolder.SUMMARY_FILE), summaryBefore.replaceFirst("\"final_loss\": [^,]+,", "\"final_loss\": NaN,"));
        Trainer.Result repaired = new Trainer(s).run();
        assertEquals(first.lastLoss(), repaired.lastLoss(), 1e-6);
        assertEquals(first.lastLoss(), summary(run).get("final_loss").getAsDouble(), 1e-6);
    }
}
