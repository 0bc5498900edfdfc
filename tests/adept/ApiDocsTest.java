package adept;

import static org.junit.jupiter.api.Assertions.assertEquals;

import com.sun.source.tree.ClassTree;
import com.sun.source.tree.CompilationUnitTree;
import com.sun.source.tree.MethodTree;
import com.sun.source.tree.Tree;
import com.sun.source.util.DocTrees;
import com.sun.source.util.JavacTask;
import com.sun.source.util.TreePath;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;
import javax.lang.model.element.Modifier;
import javax.tools.JavaCompiler;
import javax.tools.StandardJavaFileManager;
import javax.tools.ToolProvider;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;

/**
 * Every public type, method and constructor of the library artifact (library/src/adept) has a doc comment. Overrides inherit theirs; a record's compact constructor is described by the
 * record's own comment. Parsing only, no compilation: about a second.
 */
class ApiDocsTest {
    @Test
    void everyPublicTypeAndMethodOfTheLibraryHasADocComment() throws IOException {
        // The GPU check runs the compiled tests without the sources.
        Assumptions.assumeTrue(Files.isDirectory(Path.of("library/src/adept")), "no library/src/adept in " + Path.of("").toAbsolutePath());
        List<Path> files;
        try (Stream<Path> walk = Files.walk(Path.of("library/src/adept"))) {
            files = walk.filter(p -> p.toString().endsWith(".java")).sorted().toList();
        }
        JavaCompiler javac = ToolProvider.getSystemJavaCompiler();
        List<String> undocumented = new ArrayList<>();
        try (StandardJavaFileManager fm = javac.getStandardFileManager(null, null, null)) {
            JavacTask task = (JavacTask) javac.getTask(null, fm, null, List.of("-proc:none"), null, fm.getJavaFileObjectsFromPaths(files));
            DocTrees docs = DocTrees.instance(task);
            for (CompilationUnitTree unit : task.parse()) {
                for (Tree type : unit.getTypeDecls()) {
                    if (type instanceof ClassTree c) check(docs, new TreePath(new TreePath(unit), c), false, undocumented);
                }
            }
        }
        assertEquals(List.of(), undocumented, undocumented.size() + " public types and methods without a doc comment");
    }

    private static void check(DocTrees docs, TreePath path, boolean inInterface, List<String> undocumented) {
        ClassTree type = (ClassTree) path.getLeaf();
        if (!type.getModifiers().getFlags().contains(Modifier.PUBLIC) && !inInterface) return;
        String where = path.getCompilationUnit().getSourceFile().getName().replaceAll(".*/src/", "src/");
        if (docs.getDocCommentTree(path) == null) undocumented.add(where + ": type " + type.getSimpleName());
        boolean iface = type.getKind() == Tree.Kind.INTERFACE || type.getKind() == Tree.Kind.ANNOTATION_TYPE;
        for (Tree member : type.getMembers()) {
            TreePath memberPath = new TreePath(path, member);
            if (member instanceof ClassTree) {
                check(docs, memberPath, iface, undocumented);
            } else if (member instanceof MethodTree m) {
                var flags = m.getModifiers().getFlags();
                boolean api = flags.contains(Modifier.PUBLIC) || (iface && !flags.contains(Modifier.PRIVATE));
                boolean override = m.getModifiers().getAnnotations().stream().anyMatch(a -> a.getAnnotationType().toString().equals("Override"));
                boolean compact = type.getKind() == Tree.Kind.RECORD && m.getName().contentEquals("<init>") && isCompact(docs, m, path);
                if (api && !override && !compact && docs.getDocCommentTree(memberPath) == null) {
                    undocumented.add(where + ": " + type.getSimpleName() + "." + (m.getName().contentEquals("<init>") ? "<constructor>" : m.getName()));
                }
            }
        }
    }

    /** A compact canonical constructor: no parameter list in the source ("public Name {"). */
    private static boolean isCompact(DocTrees docs, MethodTree m, TreePath typePath) {
        CompilationUnitTree unit = typePath.getCompilationUnit();
        long start = docs.getSourcePositions().getStartPosition(unit, m);
        try {
            String text = unit.getSourceFile().getCharContent(true).toString();
            int brace = text.indexOf('{', (int) start);
            return start >= 0 && brace > 0 && !text.substring((int) start, brace).contains("(");
        } catch (IOException e) {
            return false;
        }
    }
}
