package adept.cli;

import adept.demo.SentencePieceTokenizer;
import adept.io.data.TrainingDocuments;
import java.io.BufferedWriter;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.Callable;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/** Trains a SentencePiece unigram tokenizer on corpora and writes it as a Hugging Face tokenizer.json that every adept command loads. */
@Command(name = "tokenizer", mixinStandardHelpOptions = true,
        description = {"Trains a SentencePiece unigram tokenizer (Debian's spm_train) on text or JSON Lines corpora and writes",
                "tokenizer.json + tokenizer_config.json (<s> BOS, </s> EOS, <pad>) into --out, for `adept init`."})
public final class TokenizerCommand implements Callable<Integer> {
    @Option(names = "--data", required = true, paramLabel = "FILE", description = "training text: plain or JSON Lines with \"text\", gzip or not (repeat)")
    List<Path> data;
    @Option(names = "--vocab", defaultValue = "8192", description = "vocabulary size (default: ${DEFAULT-VALUE})")
    int vocab;
    @Option(names = "--out", required = true, paramLabel = "DIR", description = "tokenizer folder to write")
    Path out;

    @Option(names = "--force", description = "replace the tokenizer files already in --out (e.g. a model folder's)")
    boolean force;

    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    /** What a run writes into --out (tokenizer.json and its config, SentencePiece's model and vocabulary). */
    static final List<String> WRITTEN = List.of("tokenizer.json", "tokenizer_config.json", "spm.model", "spm.vocab", "spm.tsv");

    private CommandLine.ParameterException usage(String message) {
        return new CommandLine.ParameterException(spec.commandLine(), message);
    }

    @Override
    public Integer call() throws IOException {
        // byte fallback takes 256 pieces, the specials 4, and every character of the text one more
        if (vocab < 400) throw new CommandLine.ParameterException(spec.commandLine(), "--vocab must be >= 400 (256 byte pieces + specials + characters), got " + vocab);
        Path out = this.out.toAbsolutePath().normalize();  // spm_train runs in that folder
        if (Files.exists(out) && !Files.isDirectory(out)) throw usage("--out " + this.out + " exists and is not a folder");
        List<String> present = new java.util.ArrayList<>();
        for (String name : WRITTEN) if (Files.exists(out.resolve(name), java.nio.file.LinkOption.NOFOLLOW_LINKS)) present.add(name);
        if (!present.isEmpty() && !force) {
            throw usage("--out " + this.out + " already holds " + String.join(", ", present) + "; pass --force to replace "
                    + (present.size() == 1 ? "it" : "them"));
        }
        try {
            Files.createDirectories(out);
        } catch (IOException e) {
            throw AdeptCommand.ioError("create", out, e);
        }
        adept.io.checkpoint.FileOps.removeStaleTemporaries(out);  // a killed run's input file
        Path input;
        try {
            input = adept.io.checkpoint.FileOps.newTemporarySibling(out, "spm-input.txt");
        } catch (IOException e) {
            throw AdeptCommand.ioError("write into", out, e);
        }
        try (adept.io.checkpoint.FileOps.Temporary registered = adept.io.checkpoint.FileOps.deleteOnExit(input)) {
            long lines = 0;
            try (BufferedWriter w = Files.newBufferedWriter(input, StandardCharsets.UTF_8)) {
                for (Path file : data) {
                    try (TrainingDocuments docs = TrainingDocuments.open(file)) {
                        for (TrainingDocuments.Piece p; (p = docs.next()) != null; ) {
                            for (String line : p.text().split("\n")) {
                                if (line.isBlank()) continue;
                                w.write(line.strip());
                                w.write('\n');
                                lines++;
                            }
                        }
                    }
                }
            }
            int size = SentencePieceTokenizer.train(input, out, vocab);
            spec.commandLine().getOut().printf("wrote %s: SentencePiece unigram, %,d pieces, trained on %,d lines%n", out.resolve("tokenizer.json"),
                    size, lines);
            spec.commandLine().getOut().flush();
        } catch (IOException e) {
            throw AdeptCommand.ioError("write", input, e);
        } finally {
            AdeptCommand.deleteQuietly(input);
        }
        return 0;
    }
}
