package adept.train;

import static org.junit.jupiter.api.Assertions.*;

import adept.io.tensorboard.EventFiles;
import adept.optim.LrSchedule;
import com.google.gson.JsonObject;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.atomic.AtomicBoolean;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * TensorBoard event files of a run, read back by the independent reader ({@link EventFiles}): every metrics line as
 * scalars, held-out losses, rate and importance histograms with the effective rate at refreshes, the settings as text;
 * a resumed run's new file starts with a SessionLog START that drops the interrupted tail; tensorboard: false writes none.
 */
class TensorBoardRunTest {
    @TempDir
    Path dir;

    /** scalar tag -> step -> value, applying TensorBoard's purge: a SessionLog START at step s drops what came before at s and later. */
    static Map<String, TreeMap<Long, Double>> scalars(List<EventFiles.Event> events) {
        Map<String, TreeMap<Long, Double>> out = new TreeMap<>();
        for (EventFiles.Event e : events) {
            if (e.sessionStatus() != null && e.sessionStatus() == 1) for (TreeMap<Long, Double> m : out.values()) m.tailMap(e.step(), true).clear();
            for (EventFiles.Value v : e.values()) {
                if (v.simple() == null) continue;
                Double old = out.computeIfAbsent(v.tag(), k -> new TreeMap<>()).put(e.step(), v.simple());
                assertNull(old, v.tag() + " logged twice at step " + e.step());
            }
        }
        return out;
    }

    @Test
    void aRunLogsItsMetricsRefreshesAndSettings() throws Exception {
        TrainSettings s = TrainFixtures.settings(dir, "adept");
        new Trainer(s).run();
        Path out = s.output().out();
        assertEquals(1, EventFiles.files(out).size());
        List<EventFiles.Event> events = EventFiles.events(out);
        assertEquals("brain.Event:2", events.get(0).fileVersion());
        EventFiles.Value settings = events.stream().flatMap(e -> e.values().stream()).filter(v -> v.tag().equals("settings")).findFirst().orElseThrow();
        assertTrue(settings.tensor().getField(8).getLengthDelimitedList().get(0).toStringUtf8().contains("\"mode\": \"adept\""));

        Map<String, TreeMap<Long, Double>> scalars = scalars(events);
        List<JsonObject> lines = RunLog.read(out.resolve(RunFolder.METRICS_FILE));
        int trainLines = 0;
        for (JsonObject line : lines) {
            long step = line.get("step").getAsLong();
            if (line.has("loss")) {
                trainLines++;
                for (String key : List.of("loss", "lr", "grad_norm", "tokens_per_s")) {
                    assertEquals((float) line.get(key).getAsDouble(), scalars.get("train/" + key).get(step).floatValue(), key + " at step " + step);
                }
            } else {
                assertEquals((float) line.get("eval_loss").getAsDouble(), scalars.get("eval/loss").get(step).floatValue(), "eval loss at " + step);
            }
        }
        assertEquals(30, trainLines);
        assertEquals(30, scalars.get("train/loss").size());
        assertEquals(List.of(10L, 20L, 30L), new ArrayList<>(scalars.get("eval/loss").keySet()));

        // refreshes before steps 0, 10 and 20: histograms, the mean multiplier and the effective rate
        List<Long> histogramSteps = events.stream().filter(e -> e.values().stream().anyMatch(v -> v.tag().equals("rates/multiplier") && v.histo() != null))
                .map(EventFiles.Event::step).toList();
        assertEquals(List.of(0L, 10L, 20L), histogramSteps);
        assertEquals(3, events.stream().filter(e -> e.values().stream().anyMatch(v -> v.tag().equals("importance/unit") && v.histo() != null)).count());
        LrSchedule schedule = new LrSchedule(s.optimizer().schedule(), s.optimizer().lr(), s.warmup(), s.optimizer().steps());
        assertEquals(1.0, scalars.get("rates/mean_multiplier").get(0L), "right after expansion the rates are uniform");
        for (long step : List.of(0L, 10L, 20L)) {
            assertEquals((float) (schedule.rate(step) * scalars.get("rates/mean_multiplier").get(step)), scalars.get("rates/effective_lr").get(step).floatValue(), 1e-9);
        }
        assertTrue(scalars.keySet().stream().anyMatch(t -> t.startsWith("importance/model.layers.")), scalars.keySet().toString());
    }

    @Test
    void aResumedRunShowsEveryStepOnceAndTensorboardFalseWritesNothing() throws Exception {
        TrainSettings s = TrainFixtures.settings(dir, "full");
        AtomicBoolean stop = new AtomicBoolean();
        new Trainer(s).listen(new TrainListener() {
            @Override
            public void step(long step, long steps, double loss, double lr, double tokensPerSecond) {
                if (step == 13) stop.set(true);
            }
        }).stopWhen(stop).run();
        new Trainer(s).run();
        Path out = s.output().out();
        assertEquals(2, EventFiles.files(out).size(), "the resumed run writes a file of its own");
        List<EventFiles.Event> second = new ArrayList<>();
        for (byte[] r : EventFiles.records(EventFiles.files(out).get(1))) second.add(EventFiles.event(r));
        assertEquals(1L, second.get(1).sessionStatus(), "SessionLog START right after the version record");
        assertEquals(14, second.get(1).step());
        Map<String, TreeMap<Long, Double>> scalars = scalars(EventFiles.events(out));
        List<Double> losses = ResumeTest.losses(out);
        assertEquals(30, scalars.get("train/loss").size());
        for (int i = 0; i < losses.size(); i++) assertEquals((float) (double) losses.get(i), scalars.get("train/loss").get(i + 1L).floatValue());

        TrainSettings quiet = TrainFixtures.settings(dir, "full").toBuilder().out(dir.resolve("quiet")).steps(4).tensorboard(false).build();
        new Trainer(quiet).run();
        assertEquals(List.of(), EventFiles.files(quiet.output().out()));
        // --restart discards the old event files with the rest of the run
        TrainSettings again = TrainFixtures.settings(dir, "full").toBuilder().steps(4).build();
        new Trainer(again).restart().run();
        assertEquals(1, EventFiles.files(out).size());
    }
}
