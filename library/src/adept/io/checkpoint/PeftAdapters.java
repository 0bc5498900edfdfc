package adept.io.checkpoint;

import adept.tensor.Tensor;
import com.google.gson.GsonBuilder;
import com.google.gson.JsonArray;
import com.google.gson.JsonElement;
import com.google.gson.JsonNull;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Pattern;

/**
 * LoRA adapters in the folder layout of Hugging Face PEFT, so that {@code PeftModel.from_pretrained(base, DIR)} loads
 * them: adapter_config.json (peft_type LORA, r, lora_alpha, lora_dropout, target_modules) and adapter_model.safetensors
 * with PEFT's tensor names, "base_model.model." + the adapted module's name + ".lora_A.weight" / ".lora_B.weight"
 * (A [r, in], B [out, r]). In adept the tensors go by the names without the prefix.
 */
public final class PeftAdapters {
    public static final String CONFIG_FILE = "adapter_config.json";
    public static final String WEIGHTS_FILE = "adapter_model.safetensors";
    /** What PEFT puts before a module's name in the saved state dict of a causal LM. */
    public static final String PREFIX = "base_model.model.";
    private static final Pattern NAME = Pattern.compile("model\\.layers\\.\\d+\\.(self_attn|mlp)\\.[a-z_]+_proj\\.lora_[AB]\\.weight");

    private PeftAdapters() {}

    /**
     * What adapter_config.json says (of what adept uses).
     *
     * @param rank          r
     * @param alpha         lora_alpha; the adapters add (alpha / r) B A x
     * @param dropout       lora_dropout
     * @param targetModules the adapted projections' short names (q_proj, ..., down_proj)
     * @param baseModel     base_model_name_or_path (null: none)
     */
    public record Config(int rank, double alpha, double dropout, List<String> targetModules, String baseModel) {
        public Config {
            targetModules = List.copyOf(targetModules);
        }
    }

    /** adapter_config.json's text: every field PEFT's LoraConfig writes, with adept's values. */
    public static String configJson(Config c) {
        JsonObject o = new JsonObject();
        o.add("alpha_pattern", new JsonObject());
        o.add("auto_mapping", JsonNull.INSTANCE);
        o.addProperty("base_model_name_or_path", c.baseModel());
        o.addProperty("bias", "none");
        o.addProperty("fan_in_fan_out", false);
        o.addProperty("inference_mode", true);
        o.addProperty("init_lora_weights", true);
        o.add("layers_pattern", JsonNull.INSTANCE);
        o.add("layers_to_transform", JsonNull.INSTANCE);
        if (c.alpha() == Math.rint(c.alpha()) && Math.abs(c.alpha()) < 1e15) o.addProperty("lora_alpha", (long) c.alpha());
        else o.addProperty("lora_alpha", c.alpha());
        o.addProperty("lora_dropout", c.dropout());
        o.add("modules_to_save", JsonNull.INSTANCE);
        o.addProperty("peft_type", "LORA");
        o.addProperty("r", c.rank());
        o.add("rank_pattern", new JsonObject());
        o.add("revision", JsonNull.INSTANCE);
        JsonArray targets = new JsonArray();
        c.targetModules().forEach(targets::add);
        o.add("target_modules", targets);
        o.addProperty("task_type", "CAUSAL_LM");
        o.addProperty("use_dora", false);
        o.addProperty("use_rslora", false);
        return new GsonBuilder().setPrettyPrinting().serializeNulls().disableHtmlEscaping().create().toJson(o) + "\n";
    }

    /** Writes the two files into the existing folder dir (each atomically); tensors by adept name, stored in their own dtype. */
    public static void writeFiles(Path dir, Config config, Map<String, Tensor> tensors) {
        Map<String, Tensor> named = new LinkedHashMap<>();
        for (var e : tensors.entrySet()) {
            if (!NAME.matcher(e.getKey()).matches()) throw new CheckpointException(dir + ": " + e.getKey() + " is not a LoRA adapter tensor name");
            named.put(PREFIX + e.getKey(), e.getValue());
        }
        try {
            FileOps.writeStringAtomically(dir.resolve(CONFIG_FILE), configJson(config));
        } catch (IOException e) {
            throw new UncheckedIOException("cannot write " + dir.resolve(CONFIG_FILE) + ": " + e.getMessage(), e);
        }
        Safetensors.write(dir.resolve(WEIGHTS_FILE), named, Map.of("format", "pt"));
    }

    /** Writes dir as a whole (a temporary sibling renamed into place, replacing an earlier dir): readers see the old folder or the new one. */
    public static void writeFolder(Path dir, Config config, Map<String, Tensor> tensors) {
        Path target = dir.toAbsolutePath().normalize();
        Path parent = target.getParent();
        Path temp = null;
        Path old = null;
        try {
            Files.createDirectories(parent);
            temp = Files.createTempDirectory(parent, "." + target.getFileName() + ".tmp-");
            writeFiles(temp, config, tensors);
            FileOps.fsyncDirectory(temp);
            if (Files.exists(target, LinkOption.NOFOLLOW_LINKS)) {
                old = Files.createTempDirectory(parent, "." + target.getFileName() + ".old-");
                Files.delete(old);
                Files.move(target, old, java.nio.file.StandardCopyOption.ATOMIC_MOVE);
            }
            Files.move(temp, target, java.nio.file.StandardCopyOption.ATOMIC_MOVE);
            temp = null;
            FileOps.fsyncDirectory(parent);
            if (old != null) FileOps.deleteRecursively(old);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot write " + target + ": " + e.getMessage(), e);
        } finally {
            try {
                if (temp != null) FileOps.deleteRecursively(temp);
            } catch (IOException ignored) {
                // a hidden temporary folder left behind costs only disk space
            }
        }
    }

    /** Reads dir's adapter_config.json; what adept cannot reproduce (rsLoRA, DoRA, biases, fan_in_fan_out, per-module ranks) is an error. */
    public static Config readConfig(Path dir) {
        Path file = dir.resolve(CONFIG_FILE);
        String where = file.toString();
        JsonObject o;
        try {
            JsonElement root = JsonParser.parseString(FileOps.readUtf8(file, 1 << 20, "adapter_config.json"));
            if (!root.isJsonObject()) throw new CheckpointException(where + ": not a JSON object");
            o = root.getAsJsonObject();
        } catch (com.google.gson.JsonParseException e) {
            throw new CheckpointException(where + ": not JSON: " + e.getMessage(), e);
        }
        try {
            if (!"LORA".equals(text(o, "peft_type"))) throw new CheckpointException(where + ": peft_type is " + o.get("peft_type") + ", not LORA");
            for (String flag : List.of("use_rslora", "use_dora", "fan_in_fan_out")) {
                if (o.has(flag) && !o.get(flag).isJsonNull() && o.get(flag).getAsBoolean()) throw new CheckpointException(where + ": " + flag + " is not supported");
            }
            if (o.has("bias") && !"none".equals(text(o, "bias"))) throw new CheckpointException(where + ": bias " + o.get("bias") + " is not supported (none only)");
            for (String pattern : List.of("rank_pattern", "alpha_pattern")) {
                if (o.has(pattern) && o.get(pattern).isJsonObject() && !o.getAsJsonObject(pattern).isEmpty()) {
                    throw new CheckpointException(where + ": " + pattern + " is not supported (one rank and alpha for every module)");
                }
            }
            int rank = o.get("r").getAsInt();
            if (rank <= 0) throw new CheckpointException(where + ": r must be > 0, got " + rank);
            double alpha = o.get("lora_alpha").getAsDouble();
            double dropout = o.has("lora_dropout") ? o.get("lora_dropout").getAsDouble() : 0;
            List<String> targets = new ArrayList<>();
            JsonElement t = o.get("target_modules");
            if (t != null && t.isJsonArray()) t.getAsJsonArray().forEach(e -> targets.add(e.getAsString()));
            else if (t != null && t.isJsonPrimitive()) targets.add(t.getAsString());
            JsonElement base = o.get("base_model_name_or_path");
            return new Config(rank, alpha, dropout, targets, base == null || base.isJsonNull() ? null : base.getAsString());
        } catch (RuntimeException e) {
            if (e instanceof CheckpointException c) throw c;
            throw new CheckpointException(where + ": unreadable adapter config: " + e.getMessage(), e);
        }
    }

    private static String text(JsonObject o, String key) {
        JsonElement e = o.get(key);
        return e == null || e.isJsonNull() ? null : e.getAsString();
    }

    /** dir's adapter tensors by adept name (the PEFT prefix removed), on the CPU in their stored dtype; the caller owns them. */
    public static Map<String, Tensor> readTensors(Path dir) {
        Safetensors file = Safetensors.open(dir.resolve(WEIGHTS_FILE));
        Map<String, Tensor> out = new LinkedHashMap<>();
        try {
            for (String name : file.names()) {
                String plain = name.startsWith(PREFIX) ? name.substring(PREFIX.length()) : name;
                if (!NAME.matcher(plain).matches()) throw new CheckpointException(file.file() + ": " + name + " is not a LoRA adapter tensor of a decoder layer");
                out.put(plain, file.tensor(name));
            }
        } catch (RuntimeException e) {
            out.values().forEach(Tensor::close);
            throw e;
        }
        return out;
    }
}
