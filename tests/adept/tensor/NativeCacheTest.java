package adept.tensor;

import static org.junit.jupiter.api.Assertions.*;

import java.io.IOException;
import java.net.URL;
import java.net.URLClassLoader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The shim travels inside the jar and is extracted to a versioned per-user cache; the overrides still win. */
class NativeCacheTest {
    private static final String RESOURCE = "native/" + NativeLoader.platform() + "/" + NativeLoader.LIBRARY_FILE;

    /** Child JVM: prints the file the shim was loaded from. */
    public static void main(String[] args) {
        System.out.println("shim " + Torch.nativeLibrary());
    }

    /** A class loader (no parent: the test classpath's own shim stays out) over a folder holding a fake shim. */
    private static URLClassLoader jarWithShim(Path root, byte[] bytes) throws IOException {
        Path file = root.resolve(RESOURCE);
        Files.createDirectories(file.getParent());
        Files.write(file, bytes);
        return new URLClassLoader(new URL[] {root.toUri().toURL()}, null);
    }

    @Test
    void theJarsShimIsExtractedOnceIntoAFolderNamedByVersionAndHash(@TempDir Path tmp) throws Exception {
        byte[] bytes = "fake shim bytes".getBytes(StandardCharsets.UTF_8);
        Path cache = tmp.resolve("cache");
        Path first;
        try (URLClassLoader jar = jarWithShim(tmp.resolve("jar"), bytes)) {
            first = NativeLoader.locate(null, null, jar, null, cache);
            assertEquals(cache, first.getParent().getParent());
            assertTrue(first.getParent().getFileName().toString().matches("dev-[0-9a-f]{16}"), first.toString());
            assertArrayEquals(bytes, Files.readAllBytes(first));
            var written = Files.getLastModifiedTime(first);
            Thread.sleep(20);
            assertEquals(first, NativeLoader.locate(null, "", jar, null, cache), "blank overrides count as unset");
            assertEquals(written, Files.getLastModifiedTime(first), "the second load reuses the extracted copy");
        }
        try (URLClassLoader other = jarWithShim(tmp.resolve("jar2"), "another build".getBytes(StandardCharsets.UTF_8))) {
            Path second = NativeLoader.locate(null, null, other, null, cache);
            assertNotEquals(first.getParent(), second.getParent());
            assertEquals(2, listNames(cache).size(), "another build gets its own folder: " + listNames(cache));
        }
    }

    @Test
    void concurrentExtractionsAgreeAndLeaveNoTemporaryFolders(@TempDir Path tmp) throws Exception {
        byte[] bytes = new byte[3 << 20];
        new java.util.Random(7).nextBytes(bytes);
        Path cache = tmp.resolve("cache");
        int n = 8;
        ExecutorService pool = Executors.newFixedThreadPool(n);
        try (URLClassLoader jar = jarWithShim(tmp.resolve("jar"), bytes)) {
            CountDownLatch start = new CountDownLatch(1);
            List<Future<Path>> results = new ArrayList<>();
            for (int i = 0; i < n; i++) {
                results.add(pool.submit(() -> {
                    start.await();
                    return NativeLoader.locate(null, null, jar, null, cache);
                }));
            }
            start.countDown();
            Path expected = results.get(0).get(60, TimeUnit.SECONDS);
            for (Future<Path> r : results) assertEquals(expected, r.get(60, TimeUnit.SECONDS));
            assertArrayEquals(bytes, Files.readAllBytes(expected));
            assertEquals(List.of(expected.getParent().getFileName().toString()), listNames(cache), "only the final folder remains");
        } finally {
            pool.shutdownNow();
        }
    }

    @Test
    void explicitFolderWinsOverTheJarAndAMissingOneIsNamed(@TempDir Path tmp) throws Exception {
        Path dir = Files.createDirectories(tmp.resolve("mine"));
        try (URLClassLoader jar = jarWithShim(tmp.resolve("jar"), new byte[] {1, 2, 3})) {
            TorchException missing = assertThrows(TorchException.class,
                    () -> NativeLoader.locate(null, dir.toString(), jar, null, tmp.resolve("cache")));
            assertTrue(missing.getMessage().contains(dir.resolve(NativeLoader.LIBRARY_FILE) + " (adept.native.dir / ADEPT_NATIVE_DIR) does not exist"),
                    missing.getMessage());
            Path mine = Files.write(dir.resolve(NativeLoader.LIBRARY_FILE), new byte[] {9});
            assertEquals(mine.toAbsolutePath(), NativeLoader.locate(null, dir.toString(), jar, null, tmp.resolve("cache")));
            assertFalse(Files.exists(tmp.resolve("cache")), "nothing extracted when the folder is given");
        }
    }

    @Test
    void notFoundSaysWhatWasSearchedAndHowToFixItInOneLine(@TempDir Path tmp) throws Exception {
        Files.createDirectories(tmp.resolve("build"));  // a cwd-style build/ that must not be searched
        Path classes = Files.createDirectories(tmp.resolve("checkout/target/classes"));
        try (URLClassLoader empty = new URLClassLoader(new URL[] {Files.createDirectories(tmp.resolve("nothing")).toUri().toURL()}, null)) {
            TorchException e = assertThrows(TorchException.class, () -> NativeLoader.locate(null, null, empty, classes, tmp.resolve("cache")));
            String message = e.getMessage();
            assertFalse(message.contains("\n"), message);
            assertTrue(message.contains("searched the jar's " + RESOURCE + ", " + tmp.resolve("checkout/build/native/" + NativeLoader.LIBRARY_FILE)),
                    message);
            assertTrue(message.contains("set ADEPT_NATIVE_DIR (-Dadept.native.dir)") && message.contains("apt-get install libtorch-dev"), message);
        }
    }

    @Test
    void classesOfAModuleFindTheirCheckoutsShim(@TempDir Path tmp) throws Exception {
        Path checkout = tmp.resolve("checkout");
        Files.createDirectories(checkout.resolve("native"));
        Files.writeString(checkout.resolve("native/build.sh"), "");
        Path shim = checkout.resolve("build/native/" + NativeLoader.LIBRARY_FILE);
        assertEquals(List.of(shim), NativeLoader.checkoutCandidates(checkout.resolve("library/target/classes")));
        assertEquals(List.of(shim), NativeLoader.checkoutCandidates(checkout.resolve("cli/target/lib/adept-0.1.0.jar").getParent().resolveSibling("adept.jar")));
        assertEquals(List.of(shim), NativeLoader.checkoutCandidates(checkout.resolve("target/classes")), "one-module layout");
        assertEquals(List.of(), NativeLoader.checkoutCandidates(tmp.resolve("somewhere/lib/adept.jar")), "not a build folder: nothing searched");
    }

    /** The real shim from the test classpath's copy (target/classes/native/...), in JVMs started together outside the checkout. */
    @Test
    void aJvmOutsideTheCheckoutLoadsTheShimFromTheJarWithNoFlags(@TempDir Path tmp) throws Exception {
        var resource = NativeLoader.class.getClassLoader().getResource(RESOURCE);
        assertNotNull(resource, RESOURCE + " is not on the test classpath: build the shim (native/build.sh) before mvn test");
        // Where the suite runs with another build of the shim (the GPU check's), the classpath's copy is not for this machine.
        byte[] packaged;
        try (var in = resource.openStream()) {
            packaged = in.readAllBytes();
        }
        Assumptions.assumeTrue(java.util.Arrays.equals(packaged, Files.readAllBytes(Torch.nativeLibrary())),
                "the classpath's shim is another build than the one this suite loads (" + Torch.nativeLibrary() + ")");
        Path cwd = Files.createDirectories(tmp.resolve("elsewhere"));
        Path cache = tmp.resolve("cache");
        String java = ProcessHandle.current().info().command().orElseThrow();
        List<Process> children = new ArrayList<>();
        for (int i = 0; i < 3; i++) {
            ProcessBuilder pb = new ProcessBuilder(java, "--enable-native-access=ALL-UNNAMED", "-cp", adept.testing.ChildJvm.classPath(),
                    NativeCacheTest.class.getName()).directory(cwd.toFile()).redirectErrorStream(true);
            pb.environment().remove("ADEPT_NATIVE_DIR");
            pb.environment().remove("ADEPT_NATIVE_LIB");
            pb.environment().put("XDG_CACHE_HOME", cache.toString());
            children.add(pb.start());
        }
        String expected = null;
        for (Process p : children) {
            assertTrue(p.waitFor(120, TimeUnit.SECONDS), "child JVM finished");
            String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8).strip();
            assertEquals(0, p.exitValue(), out);
            String line = out.lines().filter(l -> l.startsWith("shim ")).findFirst().orElseThrow(() -> new AssertionError(out));
            if (expected == null) expected = line;
            assertEquals(expected, line, "every JVM loads the same extracted copy");
        }
        Path loaded = Path.of(expected.substring("shim ".length()));
        assertTrue(loaded.startsWith(cache.resolve("adept/native")), loaded.toString());
        assertEquals(1, listNames(cache.resolve("adept/native")).size(), listNames(cache.resolve("adept/native")).toString());
    }

    private static List<String> listNames(Path dir) throws IOException {
        try (Stream<Path> s = Files.list(dir)) {
            return s.map(p -> p.getFileName().toString()).sorted().toList();
        }
    }
}
