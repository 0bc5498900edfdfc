package adept.cli;

import static org.junit.jupiter.api.Assertions.*;

import adept.tensor.Device;
import adept.testing.TinyModel;
import adept.train.RunConfig;
import adept.train.Setting;
import adept.train.TrainException;
import adept.train.TrainSettings;
import adept.train.TrainSettingsBuilder;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

/**
 * Every training key, taken from the declarations (a new key is covered without touching this test), reaches the same
 * value through the `adept train` option, a YAML config key, the builder's typed setter and run.json; and every way
 * in starts from the same default.
 */
class SettingsRoundTripTest {
    @TempDir
    Path dir;

    /** A value of the key's type that differs from its default (validity across keys is not the point here). */
    static Object sample(Setting k) {
        Class<?> t = k.type();
        Object d = k.defaultValue();
        if (t == Path.class) return Path.of("/samples", k.key());
        if (t == int.class || t == Integer.class) return d == null ? 3 : (Integer) d + 1;
        if (t == long.class || t == Long.class) return d == null ? 3L : (Long) d + 1;
        if (t == double.class || t == Double.class) return d == null || (Double) d == 0 ? 0.25 : (Double) d / 2;
        if (t == boolean.class) return !(Boolean) d;
        if (t == String.class) return "sample-" + k.key();
        if (t == Device.class) return Device.cuda(1);
        if (t == List.class) return k.elementType() == String.class ? List.of("q_proj", "v_proj") : List.of(1, 3);
        if (t.isEnum()) {
            for (Object c : t.getEnumConstants()) if (!c.equals(d)) return c;
        }
        throw new AssertionError(k.key() + ": no sample for " + t.getName() + "; add one here");
    }

    /** The options every `adept train` needs, except the one under test. */
    private static List<String> requiredOptions(Setting except) {
        List<String> out = new ArrayList<>();
        for (Setting k : Setting.all()) {
            if (!k.required() || k == except) continue;
            out.add(k.option());
            out.add(k.format(sample(k)));
        }
        return out;
    }

    private static TrainSettingsBuilder fromCommandLine(List<String> args) {
        CommandLine cli = AdeptCommand.commandLine();
        List<String> all = new ArrayList<>(List.of("train"));
        all.addAll(args);
        CommandLine.ParseResult parsed = cli.parseArgs(all.toArray(String[]::new)).subcommand();
        return SettingOptions.settings(parsed);
    }

    private static String yamlValue(Setting k, Object v) {
        return v instanceof List<?> l ? "[" + String.join(", ", l.stream().map(Object::toString).toList()) + "]" : k.format(v);
    }

    @Test
    void everyKeyRoundTripsThroughOptionYamlBuilderAndRunJsonWithTheSameDefault() throws Exception {
        assertTrue(Setting.all().size() >= 40, "the declarations are read");
        TrainSettingsBuilder defaults = TrainSettings.builder();
        TrainSettingsBuilder cliDefaults = fromCommandLine(requiredOptions(null));
        for (Setting k : Setting.all()) {
            Object v = sample(k);
            assertNotEquals(k.defaultValue(), v, k.key());
            // the same default everywhere: the builder, the command line without the option, the --keys table
            if (!k.required()) assertEquals(k.defaultValue(), cliDefaults.get(k.key()), k.option() + " default");
            assertEquals(k.defaultValue(), defaults.get(k.key()), k.key() + " builder default");
            assertEquals(k.defaultText(), TrainSettings.reference().stream().filter(d -> d.key().equals(k.key())).findFirst().orElseThrow().defaultValue());

            // builder: the typed setter named after the key, taking the key's type
            TrainSettingsBuilder b = TrainSettings.builder();
            TrainSettingsBuilder.class.getMethod(k.builderMethod(), k.type()).invoke(b, v);
            assertEquals(v, b.get(k.key()), k.key() + " via the builder");

            // command line
            List<String> args = requiredOptions(k);
            if (k.type() == boolean.class) {
                args.add((Boolean) v ? k.option() : k.option().replace("--", "--no-"));
            } else {
                args.add(k.option());
                args.add(k.format(v));
            }
            assertEquals(v, fromCommandLine(args).get(k.key()), k.option() + " " + args);

            // YAML config key, read as adept run reads it
            JsonObject tree = ConfigFiles.tree(k.key() + ": " + yamlValue(k, v) + "\n", "c.yaml", "c.yaml");
            assertEquals(v, k.fromJson(tree.get(k.key())), k.key() + " in YAML");
            // JSON (run.json)
            assertEquals(v, k.fromJson(JsonParser.parseString(k.toJson(v).toString())), k.key() + " in run.json");
            assertEquals(v, k.parse(k.format(v)), k.key() + " as text");
        }
    }

    @Test
    void settingsRoundTripThroughRunJson() {
        TrainSettings s = TrainSettings.builder().model(dir.resolve("m")).data(dir.resolve("d")).probe(dir.resolve("p")).out(dir.resolve("o")).steps(200).lr(3e-4)
                .layers(List.of(1, 2)).loraTargets(List.of("q_proj")).device(Device.cuda(1)).rateNorm(adept.tune.RateNorm.PER_KIND).build();
        assertEquals(s, TrainSettings.fromJson(s.toJsonObject(), "run.json"));
        assertEquals(s, s.toBuilder().build());
        assertEquals(List.of(), s.differences(TrainSettings.fromJson(JsonParser.parseString(s.toJson()).getAsJsonObject(), "run.json")));
    }

    @Test
    void libraryDefaultsFollowTheSteps() {
        TrainSettingsBuilder b = TrainSettings.builder().model(dir).data(dir.resolve("d")).probe(dir.resolve("p")).out(dir.resolve("o"));
        TrainSettings shortRun = b.steps(10).build();
        assertEquals(10, shortRun.saveInterval(), "a short run checkpoints only at its end");
        assertEquals(0, shortRun.evalInterval(), "and evaluates only at its end");
        assertEquals(3, b.steps(10).saveEvery(3L).build().saveInterval(), "unless asked");
        TrainSettings longRun = b.saveEvery(null).steps(1000).build();
        assertEquals(100, longRun.saveInterval());
        assertEquals(50, longRun.evalInterval());
        assertEquals(50, longRun.warmup());
    }

    @Test
    void anUnknownKeyIsOneLineNamingIt() throws Exception {
        TrainException builder = assertThrows(TrainException.class, () -> TrainSettings.builder().set("learning_rate", 1e-3));
        assertOneLineNaming(builder.getMessage(), "learning_rate");

        JsonObject json = JsonParser.parseString("{\"model\": \"m\", \"learning_rate\": 0.001}").getAsJsonObject();
        assertOneLineNaming(assertThrows(TrainException.class, () -> TrainSettings.fromJson(json, "run.json")).getMessage(), "learning_rate");

        JsonObject yaml = ConfigFiles.tree("out: results\nmodel: m\nlearning_rate: 1e-3\n", "c.yaml", "c.yaml");
        String message = assertThrows(TrainException.class, () -> RunConfig.parseTree(yaml, dir.resolve("c.yaml"), "c.yaml")).getMessage();
        assertOneLineNaming(message, "learning_rate");

        TinyModel.Run cli = TinyModel.adept("train", "--model", "m", "--data", "d", "--out", "o", "--steps", "3", "--learning-rate", "1e-3");
        assertEquals(2, cli.exit(), cli.err());
        assertTrue(cli.err().contains("--learning-rate"), cli.err());
    }

    @Test
    void aBadValueNamesItsKey() {
        TrainException e = assertThrows(TrainException.class, () -> fromCommandLine(List.of("--model", "m", "--data", "d", "--out", "o", "--steps", "3",
                "--dtype", "float77")));
        assertOneLineNaming(e.getMessage(), "--dtype");
        TrainException range = assertThrows(TrainException.class, () -> TrainSettings.builder().model(dir).data(dir).probe(dir).out(dir).steps(5).beta2(1.5).build());
        assertOneLineNaming(range.getMessage(), "beta2");
        TrainException type = assertThrows(TrainException.class, () -> TrainSettings.builder().set("steps", "many"));
        assertOneLineNaming(type.getMessage(), "steps");
    }

    private static void assertOneLineNaming(String message, String name) {
        assertTrue(message.contains(name), message);
        assertFalse(Objects.requireNonNull(message).strip().contains("\n"), message);
    }
}
