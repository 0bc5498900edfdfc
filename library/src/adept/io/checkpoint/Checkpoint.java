package adept.io.checkpoint;

import adept.nn.CausalLM;
import adept.nn.ModelConfig;
import adept.nn.ModelException;
import adept.tensor.DType;
import adept.tensor.Device;
import adept.tensor.Scope;
import adept.tensor.Tensor;
import adept.tensor.TorchException;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.concurrent.ThreadLocalRandom;

/**
 * A Hugging Face checkpoint folder: config.json plus either model.safetensors or shards listed by
 * model.safetensors.index.json ({"metadata": {"total_size": N}, "weight_map": {tensor: file}}).
 *
 * <p>{@link #open} reads config.json and every safetensors header (validating them and the layer count);
 * {@link #loadModel} then builds a {@link CausalLM} from tensors read into memory of its own (see
 * {@link Safetensors}: a file changed while being read is an error). {@link #save} writes a folder
 * atomically: everything goes to a temporary sibling folder, is fsynced, and is renamed into place.
 */
public final class Checkpoint {
    public static final String WEIGHTS_FILE = "model.safetensors";
    public static final String INDEX_FILE = "model.safetensors.index.json";
    /** Files beside the weights that a derived model folder carries along (tokenizer, generation settings). */
    public static final List<String> COMPANION_FILES = List.of("tokenizer.json", "tokenizer.json.gz", "tokenizer_config.json",
            "special_tokens_map.json", "generation_config.json", "added_tokens.json", "vocab.json", "merges.txt", "tokenizer.model",
            "encoder.json", "vocab.bpe", "chat_template.jinja", "chat_template.json");
    /** What {@link #save(LoadedModel, Path)} copies from a model's folder: the companions and adept.expand's sidecar (ExpansionMetadata.FILE_NAME). */
    private static final List<String> KEPT_FILES = concat(COMPANION_FILES, "adept_expansion.json");

    private final Path dir;
    private final ConfigJson config;
    private final Path weightsSource;  // model.safetensors or the index: where a missing tensor should have been
    private final Map<String, Safetensors> fileOfTensor;
    private final List<Safetensors> files;
    private final Map<String, String> metadata;

    private Checkpoint(Path dir, ConfigJson config, Path weightsSource, Map<String, Safetensors> fileOfTensor, List<Safetensors> files) {
        this.dir = dir;
        this.config = config;
        this.weightsSource = weightsSource;
        this.fileOfTensor = Collections.unmodifiableMap(fileOfTensor);
        this.files = List.copyOf(files);
        Map<String, String> merged = new LinkedHashMap<>();
        for (Safetensors f : files) for (var m : f.metadata().entrySet()) merged.putIfAbsent(m.getKey(), m.getValue());
        this.metadata = Collections.unmodifiableMap(merged);
    }

    // ---- reading ----

    /** Loads the model of the checkpoint folder dir as dtype (null: as stored) on device. */
    public static CausalLM load(Path dir, DType dtype, Device device) {
        return open(dir).loadModel(dtype, device);
    }

    /** As {@link #load}, with the folder's {@link #provenance()}, so that {@link #save(LoadedModel, Path)} keeps it. */
    public static LoadedModel loadWithProvenance(Path dir, DType dtype, Device device) {
        Checkpoint checkpoint = open(dir);
        return new LoadedModel(checkpoint.loadModel(dtype, device), checkpoint.provenance());
    }

    /** Reads config.json and the safetensors headers (or the index and its shards' headers) of dir. */
    public static Checkpoint open(Path dir) {
        if (!Files.exists(dir, LinkOption.NOFOLLOW_LINKS)) recover(dir);  // a replace killed between its two renames
        if (!Files.isDirectory(dir)) {
            throw new CheckpointException(dir + ": " + (Files.exists(dir) ? "not a directory" : "no such checkpoint folder"));
        }
        Path configFile = dir.resolve(ConfigJson.FILE_NAME);
        if (!Files.exists(configFile, LinkOption.NOFOLLOW_LINKS)) throw new CheckpointException(dir + ": no " + ConfigJson.FILE_NAME + " in this checkpoint folder");
        ConfigJson config = ConfigJson.read(configFile);

        Path single = dir.resolve(WEIGHTS_FILE);
        Path index = dir.resolve(INDEX_FILE);
        // NOFOLLOW_LINKS: a dangling link is reported as one (by the reader), not as a missing file.
        Checkpoint checkpoint;
        if (Files.exists(single, LinkOption.NOFOLLOW_LINKS)) {
            Safetensors file = Safetensors.open(single);
            Map<String, Safetensors> byName = new TreeMap<>();
            for (String name : file.names()) byName.put(name, file);
            checkpoint = new Checkpoint(dir, config, single, byName, List.of(file));
        } else if (Files.exists(index, LinkOption.NOFOLLOW_LINKS)) {
            checkpoint = openSharded(dir, config, index);
        } else {
            checkpoint = null;
        }
        if (checkpoint != null) {
            checkpoint.checkLayerCount();
            return checkpoint;
        }
        throw new CheckpointException(dir + ": no " + WEIGHTS_FILE + " or " + INDEX_FILE
                + " in this checkpoint folder (adept reads safetensors weights only, not pytorch_model.bin)");
    }

    /** The largest shard index read (a 1,000-shard index of a 100B-parameter model is about 100 KB). */
    static final long MAX_INDEX_BYTES = 64L << 20;

    /**
     * Refuses a config.json whose num_hidden_layers the weights cannot hold (every layer has at least
     * {@value #MIN_TENSORS_PER_LAYER} tensors) before anything builds per-layer structures of that size: "1000000000"
     * would otherwise exhaust memory before the first missing tensor is reported.
     */
    private void checkLayerCount() {
        ModelConfig mc = config.modelConfig();
        long layers = mc.numHiddenLayers();
        int count = fileOfTensor.size();
        if (layers * MIN_TENSORS_PER_LAYER <= count) return;
        // Name the first missing tensor, looking layer by layer: at most count / 9 layers can be complete.
        String missing = "model.embed_tokens.weight";
        if (fileOfTensor.containsKey(missing)) {
            missing = null;
            Set<String> perLayer = mc.layerShapes().keySet();
            for (int i = 0; i < layers && missing == null; i++) {
                for (String name : perLayer) {
                    if (!fileOfTensor.containsKey(ModelConfig.layerPrefix(i) + name)) {
                        missing = ModelConfig.layerPrefix(i) + name;
                        break;
                    }
                }
            }
        }
        throw new CheckpointException(weightsSource + ": tensor " + missing + " is missing: " + config.source() + " says num_hidden_layers "
                + layers + " but the weights list " + count + " tensors, enough for at most " + count / MIN_TENSORS_PER_LAYER + " layers");
    }

    static final int MIN_TENSORS_PER_LAYER = 9;

    private static Checkpoint openSharded(Path dir, ConfigJson config, Path index) {
        String where = index.toString();
        String text;
        try {
            text = StandardCharsets.UTF_8.newDecoder().onMalformedInput(CodingErrorAction.REPORT).onUnmappableCharacter(CodingErrorAction.REPORT)
                    .decode(ByteBuffer.wrap(FileOps.readBounded(index, MAX_INDEX_BYTES, "shard index"))).toString();
        } catch (CharacterCodingException e) {
            throw new CheckpointException(where + ": not valid UTF-8", e);
        }
        JsonElement root = Json.parse(text, where);
        if (!root.isJsonObject()) throw new CheckpointException(where + ": is " + Json.describe(root) + ", not a JSON object");
        JsonElement map = root.getAsJsonObject().get("weight_map");
        if (map == null || !map.isJsonObject()) {
            throw new CheckpointException(where + ": field \"weight_map\" is " + Json.describe(map) + ", expected an object of tensor -> file");
        }
        Map<String, String> fileNames = new TreeMap<>();
        for (var e : map.getAsJsonObject().entrySet()) {
            JsonElement v = e.getValue();
            if (!v.isJsonPrimitive() || !v.getAsJsonPrimitive().isString()) {
                throw new CheckpointException(where + ": tensor " + e.getKey() + ": weight_map entry is " + Json.describe(v) + ", expected a file name");
            }
            String name = v.getAsString();
            if (name.isEmpty() || name.contains("/") || name.contains("\\") || name.equals(".") || name.equals("..")
                    || name.chars().anyMatch(c -> c < 0x20 || c == 0x7f)) {
                throw new CheckpointException(where + ": tensor " + printable(e.getKey()) + ": weight_map names \"" + printable(name)
                        + "\", which is not a file name in this folder");
            }
            fileNames.put(e.getKey(), name);
        }
        Map<String, Safetensors> opened = new TreeMap<>();
        for (String name : new java.util.TreeSet<>(fileNames.values())) {
            Path shard = dir.resolve(name);
            if (!Files.exists(shard, LinkOption.NOFOLLOW_LINKS)) {
                String example = fileNames.entrySet().stream().filter(x -> x.getValue().equals(name)).findFirst().orElseThrow().getKey();
                throw new CheckpointException(where + ": shard " + name + " (holding tensor " + example + ", ...) does not exist");
            }
            opened.put(name, Safetensors.open(shard));
        }
        Map<String, Safetensors> byName = new TreeMap<>();
        for (var e : fileNames.entrySet()) {
            Safetensors shard = opened.get(e.getValue());
            if (!shard.contains(e.getKey())) {
                throw new CheckpointException(where + ": tensor " + e.getKey() + " is listed in shard " + e.getValue()
                        + " but " + shard.file() + " does not contain it");
            }
            byName.put(e.getKey(), shard);
        }
        return new Checkpoint(dir, config, index, byName, new ArrayList<>(opened.values()));
    }

    /** A name with control characters (NUL, new lines) escaped, for one-line messages. */
    static String printable(String s) {
        StringBuilder b = new StringBuilder();
        for (char c : s.toCharArray()) {
            if (c < 0x20 || c == 0x7f) b.append(String.format("\\u%04x", (int) c));
            else b.append(c);
        }
        return b.length() > 200 ? b.substring(0, 200) + "..." : b.toString();
    }

    /** The checkpoint folder. */
    public Path dir() {
        return dir;
    }

    /** The parsed config.json, with its original JSON (pass it to {@link SaveOptions#withConfig} to keep unknown fields). */
    public ConfigJson config() {
        return config;
    }

    /** The safetensors "__metadata__" of the weight files, merged (the first file, by name, wins on conflicts). */
    public Map<String, String> metadata() {
        return metadata;
    }

    /** What a model loaded from this folder came from: the folder, its config.json and metadata (without "format", which save writes). */
    public Provenance provenance() {
        Map<String, String> kept = new LinkedHashMap<>(metadata);
        kept.remove("format");
        return new Provenance(dir, config, kept, Map.of());
    }

    /** The safetensors files, by name. */
    public List<Path> files() {
        List<Path> paths = new ArrayList<>();
        for (Safetensors f : files) paths.add(f.file());
        return paths;
    }

    /** Every tensor name of the checkpoint, sorted. */
    public Set<String> tensorNames() {
        return fileOfTensor.keySet();
    }

    /** The file holding a tensor. */
    public Path fileOf(String tensor) {
        return safetensorsOf(tensor).file();
    }

    /** One tensor as stored, on the CPU, in memory of its own (see {@link Safetensors#tensor}). */
    public Tensor tensor(String name) {
        return safetensorsOf(name).tensor(name);
    }

    Safetensors safetensorsOf(String tensor) {
        Safetensors f = fileOfTensor.get(tensor);
        if (f == null) throw new CheckpointException(weightsSource + ": tensor " + tensor + " is missing");
        return f;
    }

    /** The dtype the weights are stored in (the first model tensor's), whatever config.json's torch_dtype says. */
    public DType storedDType() {
        for (String name : config.modelConfig().tensorShapes().keySet()) {
            Safetensors f = fileOfTensor.get(name);
            if (f != null) return f.entry(name).dtype();
        }
        throw new CheckpointException(weightsSource + ": no model tensor");
    }

    /**
     * Builds the model: tensors are checked against config.json first (names, shapes, dtypes; each error
     * names the file and the tensor), then handed to {@link CausalLM#fromWeights}, which converts them to
     * dtype (null: the stored dtype) and device. On the CPU in the stored dtype the parameters share the
     * mapped files' memory (copy-on-write). {@link #loadWithProvenance} pairs it with {@link #provenance()}.
     */
    public CausalLM loadModel(DType dtype, Device device) {
        ModelConfig mc = config.modelConfig();
        Map<String, long[]> expected = mc.tensorShapes();
        for (String name : fileOfTensor.keySet()) {
            if (expected.containsKey(name)) continue;
            if (name.equals("lm_head.weight") && mc.tieWordEmbeddings()) continue;  // some writers keep the tied copy
            if (name.endsWith("rotary_emb.inv_freq")) continue;  // computed, not learned
            throw new CheckpointException(fileOf(name) + ": unexpected tensor " + name + " for " + mc.architecture().className()
                    + " with " + mc.numHiddenLayers() + " layers as " + config.source() + " describes it");
        }
        DType stored = null;
        for (var e : expected.entrySet()) {
            String name = e.getKey();
            Safetensors f = fileOfTensor.get(name);
            if (f == null) {
                throw new CheckpointException(weightsSource + ": tensor " + name + " is missing (" + config.source() + " describes "
                        + mc.architecture().className() + " with " + mc.numHiddenLayers() + " layers"
                        + (mc.tieWordEmbeddings() ? ", tied embeddings" : ", untied embeddings") + ")");
            }
            Safetensors.Entry entry = f.entry(name);
            if (!Arrays.equals(entry.shape(), e.getValue())) {
                throw new CheckpointException(f.file() + ": tensor " + name + " has shape " + Arrays.toString(entry.shape())
                        + " but " + config.source() + " implies " + Arrays.toString(e.getValue()));
            }
            if (!entry.dtype().isFloatingPoint()) {
                throw new CheckpointException(f.file() + ": tensor " + name + " has dtype " + Safetensors.dtypeName(entry.dtype())
                        + "; model weights must be floating-point (F32, BF16, F16 or F64)");
            }
            if (stored == null) stored = entry.dtype();
        }
        DType target = dtype != null ? dtype : (config.dtype() != null && config.dtype().isFloatingPoint() ? config.dtype() : stored);
        if (target == null) target = DType.FLOAT32;
        if (!target.isFloatingPoint()) {
            throw new CheckpointException(dir + ": cannot load a model as " + target + "; use float32, bfloat16, float16 or float64");
        }

        // libtorch's own set-up errors (a bad ADEPT_THREADS, a missing library) are not about a tensor: let them
        // surface as they are, before the first tensor is read.
        adept.tensor.Torch.init();
        Map<String, Tensor> weights = new LinkedHashMap<>();
        try {
            for (String name : expected.keySet()) {
                // One scope per weight: the stored copy is freed as soon as it is converted, so the stored copies
                // never all sit in memory beside the converted ones; the weight itself is kept for the model.
                try (Scope scope = Scope.open()) {
                    weights.put(name, converted(tensor(name), target, device).keep());
                } catch (TorchException e) {
                    throw new CheckpointException(fileOf(name) + ": tensor " + name + ": " + e.getMessage(), e);
                }
            }
            return CausalLM.fromWeights(mc, weights, target, device);
        } catch (ModelException | TorchException e) {
            for (Tensor t : weights.values()) t.close();
            throw new CheckpointException(dir + ": " + e.getMessage(), e);
        } catch (RuntimeException e) {
            for (Tensor t : weights.values()) t.close();
            throw e;
        }
    }

    /** t as dtype on device (t itself when it already is); called inside a scope, which owns what it makes. */
    private static Tensor converted(Tensor t, DType dtype, Device device) {
        if (t.dtype() == dtype && t.device().equals(device)) return t;
        return t.to(dtype, device).contiguous();
    }

    // ---- writing ----

    /** Saves a model made in memory (no provenance): its weights and a config.json derived from it ({@link SaveOptions#defaults()}). */
    public static void save(CausalLM model, Path dir) {
        save(model, dir, SaveOptions.defaults());
    }

    /**
     * Saves the model keeping its {@link Provenance}: the config.json it was loaded with (bos/eos ids and other fields),
     * its safetensors metadata (the expansion record), the tokenizer and companion files still present in its folder,
     * and adept's sidecar files. What the command line, the trainer and a library user write a model with.
     */
    public static void save(LoadedModel loaded, Path dir) {
        save(loaded, dir, SaveOptions.defaults());
    }

    /**
     * As {@link #save(LoadedModel, Path)}, with options' dtype, shard size, extra files (a training checkpoint's
     * optimizer state) and checksums; the config.json and metadata come from the provenance, so options must set none.
     */
    public static void save(LoadedModel loaded, Path dir, SaveOptions options) {
        Provenance p = loaded.provenance();
        if (options.config() != null || !options.metadata().isEmpty()) {
            throw new CheckpointException(dir + ": the config.json and metadata of a saved model come from its provenance; set them there, not in SaveOptions");
        }
        SaveOptions withProvenance = options.withConfig(p.config()).withMetadata(p.metadata());
        if (p.folder() != null) {
            for (String name : KEPT_FILES) {
                Path f = p.folder().resolve(name);
                if (!p.sidecars().containsKey(name) && !options.extraFiles().containsKey(name) && Files.isRegularFile(f)) {
                    withProvenance = withProvenance.withExtraFile(name, f);
                }
            }
        }
        write(loaded.model(), dir, withProvenance, p.sidecars());
    }

    private static List<String> concat(List<String> list, String more) {
        List<String> out = new ArrayList<>(list);
        out.add(more);
        return List.copyOf(out);
    }

    /**
     * Writes model as a Hugging Face checkpoint folder dir: config.json, model.safetensors (or shards of at
     * most options.maxShardBytes() with model.safetensors.index.json) and options.extraFiles(). Tied
     * embeddings write no lm_head.weight. Atomic at the folder level: everything is written into a
     * temporary sibling folder and fsynced, then an existing dir is moved aside, the new folder renamed to
     * dir, and the old one deleted. On failure dir is unchanged and the temporary folder removed.
     */
    public static void save(CausalLM model, Path dir, SaveOptions options) {
        write(model, dir, options != null ? options : SaveOptions.defaults(), Map.of());
    }

    /** {@link #save(CausalLM, Path, SaveOptions)}, also writing texts (file name to content) into the folder. */
    private static void write(CausalLM model, Path dir, SaveOptions opts, Map<String, String> texts) {
        for (String name : texts.keySet()) {
            SaveOptions.checkFileName(name);
            if (opts.extraFiles().containsKey(name)) throw new CheckpointException("file " + name + " is both copied and written into " + dir);
        }
        DType store = opts.dtype() != null ? opts.dtype() : model.dtype();
        if (!store.isFloatingPoint()) {
            throw new CheckpointException(dir + ": cannot store model weights as " + store + "; use float32, bfloat16, float16 or float64");
        }
        Path target = dir.toAbsolutePath().normalize();
        Path parent = target.getParent();
        if (parent == null) throw new CheckpointException(dir + ": cannot write a checkpoint at the file system root");
        if (Files.exists(target, LinkOption.NOFOLLOW_LINKS) && !Files.isDirectory(target, LinkOption.NOFOLLOW_LINKS)) {
            throw new CheckpointException(dir + ": exists and is not a directory");
        }
        for (var e : opts.extraFiles().entrySet()) {
            if (!Files.isRegularFile(e.getValue())) throw new CheckpointException(e.getValue() + ": extra file " + e.getKey() + " does not exist");
        }
        ConfigJson config = (opts.config() != null ? opts.config().with(model.config()) : ConfigJson.of(model.config(), null)).withDtype(store);

        Map<String, String> metadata = new LinkedHashMap<>();
        metadata.put("format", "pt");  // transformers refuses safetensors files without it
        metadata.putAll(opts.metadata());
        List<Map<String, Tensor>> shards = shard(model.namedParameters(), store, opts.maxShardBytes(), dir.toString());

        Path temp = null;
        FileOps.Temporary registered = null;
        try {
            Files.createDirectories(parent);
            recover(target);
            temp = parent.resolve("." + target.getFileName() + TEMP_MARK + suffix());
            Files.createDirectory(temp);
            registered = FileOps.deleteOnExit(temp);  // SIGTERM / SIGINT mid-save: not left for the next run to find
            config.write(temp.resolve(ConfigJson.FILE_NAME));
            if (shards.size() == 1) {
                Safetensors.write(temp.resolve(WEIGHTS_FILE), shards.get(0), metadata, store);
            } else {
                JsonObject weightMap = new JsonObject();
                Map<String, String> sorted = new TreeMap<>();
                long totalSize = 0;
                for (int i = 0; i < shards.size(); i++) {
                    String name = String.format("model-%05d-of-%05d.safetensors", i + 1, shards.size());
                    Safetensors.write(temp.resolve(name), shards.get(i), metadata, store);
                    for (Tensor t : shards.get(i).values()) totalSize += t.numel() * store.byteSize();
                    for (String tensor : shards.get(i).keySet()) sorted.put(tensor, name);
                }
                sorted.forEach(weightMap::addProperty);
                JsonObject indexMeta = new JsonObject();
                indexMeta.addProperty("total_size", totalSize);
                JsonObject index = new JsonObject();
                index.add("metadata", indexMeta);
                index.add("weight_map", weightMap);
                FileOps.writeStringAtomically(temp.resolve(INDEX_FILE), Json.PRETTY.toJson(index) + "\n");
            }
            for (var e : opts.extraFiles().entrySet()) {
                Path copy = temp.resolve(e.getKey());
                Files.copy(e.getValue(), copy, StandardCopyOption.COPY_ATTRIBUTES);
                FileOps.fsyncFile(copy);
            }
            for (var e : texts.entrySet()) {
                Path file = Files.writeString(temp.resolve(e.getKey()), e.getValue(), StandardCharsets.UTF_8);
                FileOps.fsyncFile(file);
            }
            if (opts.checksums()) Checksums.write(temp);
            FileOps.fsyncDirectory(temp);
            swapInto(temp, target);
            temp = null;
        } catch (IOException e) {
            throw new CheckpointException(dir + ": cannot write checkpoint: " + e, e);
        } finally {
            if (registered != null) registered.close();
            if (temp != null) {
                try {
                    FileOps.deleteRecursively(temp);
                } catch (IOException suppressed) {
                    // leave it; the original failure matters more
                }
            }
        }
    }

    /** Splits tensors, in order, into shards of at most maxBytes (stored size); 0 = one shard. */
    static List<Map<String, Tensor>> shard(Map<String, Tensor> tensors, DType store, long maxBytes, String where) {
        List<Map<String, Tensor>> shards = new ArrayList<>();
        Map<String, Tensor> current = new LinkedHashMap<>();
        long size = 0;
        for (var e : tensors.entrySet()) {
            long bytes;
            try {
                bytes = e.getValue().numel() * store.byteSize();
            } catch (RuntimeException failure) {
                throw new CheckpointException(where + ": tensor " + e.getKey() + ": " + failure.getMessage(), failure);
            }
            if (maxBytes > 0 && !current.isEmpty() && size + bytes > maxBytes) {
                shards.add(current);
                current = new LinkedHashMap<>();
                size = 0;
            }
            current.put(e.getKey(), e.getValue());
            size += bytes;
        }
        shards.add(current);
        return shards;
    }

    /** Renames the finished temp folder to target, moving an existing target aside first and deleting it after. */
    private static void swapInto(Path temp, Path target) throws IOException {
        Path parent = target.getParent();
        Path old = null;
        if (Files.exists(target, LinkOption.NOFOLLOW_LINKS)) {
            old = parent.resolve("." + target.getFileName() + OLD_MARK + suffix());
            Files.move(target, old, StandardCopyOption.ATOMIC_MOVE);
        }
        try {
            Files.move(temp, target, StandardCopyOption.ATOMIC_MOVE);
        } catch (IOException e) {
            if (old != null) {
                try {
                    Files.move(old, target, StandardCopyOption.ATOMIC_MOVE);
                } catch (IOException restore) {
                    e.addSuppressed(restore);
                }
            }
            throw e;
        }
        FileOps.fsyncDirectory(parent);
        if (old != null) {
            try {
                // Files still mapped by a loaded model stay readable: unlinking does not unmap them (POSIX).
                FileOps.deleteRecursively(old);
            } catch (IOException e) {
                System.getLogger(Checkpoint.class.getName()).log(System.Logger.Level.WARNING,
                        "saved " + target + " but could not delete the previous version moved to " + old + ": " + e);
            }
        }
    }

    private static final String TEMP_MARK = ".tmp-";
    private static final String OLD_MARK = ".old-";

    /** "PID-HEX": the owner's process id, so that a later run can tell a folder of a dead run from one being written. */
    private static String suffix() {
        return ProcessHandle.current().pid() + "-" + Long.toHexString(ThreadLocalRandom.current().nextLong() & Long.MAX_VALUE);
    }

    /** Folders left without a process id (by versions before it was put in the name) count as stale after this. */
    static final long LEGACY_STALE_MILLIS = 24L * 3600 * 1000;

    /**
     * Cleans up after a {@link #save} of target that was killed (kill -9, SIGTERM, SIGINT, power loss): its temporary
     * folders {@code .NAME.tmp-PID-HEX} are deleted, and a previous version {@code .NAME.old-PID-HEX} is put back as
     * target when target is missing (killed between the two renames of a replace; the new folder may be incomplete
     * for all this run knows, the old one was complete) or deleted when target exists (killed before deleting it).
     * Only folders whose owning process is gone are touched: another run writing the same target keeps its own.
     * Called by {@link #save} and {@link #open}; harmless when there is nothing to do.
     *
     * @return whether target was restored from a previous version
     */
    public static boolean recover(Path target) {
        Path abs = target.toAbsolutePath().normalize();
        Path parent = abs.getParent();
        if (parent == null || abs.getFileName() == null || !Files.isDirectory(parent)) return false;
        String prefix = "." + abs.getFileName();
        List<Path> olds = new ArrayList<>();
        List<Path> temps = new ArrayList<>();
        // A filter, not a glob: a folder name may hold glob syntax ("[", "{").
        try (var siblings = Files.newDirectoryStream(parent, p -> p.getFileName().toString().startsWith(prefix + "."))) {
            for (Path p : siblings) {
                String rest = p.getFileName().toString().substring(prefix.length());
                boolean isTemp = rest.startsWith(TEMP_MARK);
                boolean isOld = rest.startsWith(OLD_MARK);
                if (!(isTemp || isOld) || !Files.isDirectory(p, LinkOption.NOFOLLOW_LINKS)) continue;
                if (!ownerIsGone(p, rest.substring(TEMP_MARK.length()))) continue;
                (isTemp ? temps : olds).add(p);
            }
        } catch (IOException e) {
            return false;  // cannot list: leave everything as it is
        }
        boolean restored = false;
        olds.sort(java.util.Comparator.comparing(Checkpoint::modified).reversed());  // the newest previous version first
        var log = System.getLogger(Checkpoint.class.getName());
        for (Path old : olds) {
            try {
                if (!restored && !Files.exists(abs, LinkOption.NOFOLLOW_LINKS)) {
                    Files.move(old, abs, StandardCopyOption.ATOMIC_MOVE);
                    FileOps.fsyncDirectory(parent);
                    restored = true;
                    log.log(System.Logger.Level.WARNING, "restored " + abs + " from " + old.getFileName()
                            + ", left by a replace that was interrupted");
                } else {
                    FileOps.deleteRecursively(old);
                }
            } catch (IOException e) {
                log.log(System.Logger.Level.WARNING, "could not clean up " + old + ": " + e);
            }
        }
        for (Path temp : temps) {
            try {
                FileOps.deleteRecursively(temp);
            } catch (IOException e) {
                log.log(System.Logger.Level.WARNING, "could not delete " + temp + ": " + e);
            }
        }
        return restored;
    }

    /** Whether the process that named a folder "PID-HEX" has ended (a folder without a pid: when untouched for a day). */
    private static boolean ownerIsGone(Path folder, String suffix) {
        int dash = suffix.indexOf('-');
        if (dash > 0) {
            try {
                long pid = Long.parseLong(suffix.substring(0, dash));
                return pid != ProcessHandle.current().pid() && ProcessHandle.of(pid).map(h -> !h.isAlive()).orElse(true);
            } catch (NumberFormatException e) {
                return false;
            }
        }
        return System.currentTimeMillis() - modified(folder) > LEGACY_STALE_MILLIS;
    }

    private static long modified(Path p) {
        try {
            return Files.getLastModifiedTime(p, LinkOption.NOFOLLOW_LINKS).toMillis();
        } catch (IOException e) {
            return Long.MAX_VALUE;
        }
    }

    @Override
    public String toString() {
        return "Checkpoint[" + dir + ", " + files.size() + " file(s), " + fileOfTensor.size() + " tensors]";
    }
}
