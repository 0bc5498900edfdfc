/*
 * BindGen: a small stand-in for jextract that emits jextract-style (jextract 22) Java FFM
 * bindings for adept's C shim header native/adept_torch.h.
 *
 * It parses the header with libclang, called through the Foreign Function & Memory API, and
 * supports exactly the C subset that header uses: functions over scalar (integer, floating
 * point) and pointer types, typedefs of pointers, function-pointer typedefs, and enums.
 * Anything else (struct/union by value, variadic functions, arrays, globals) fails loudly
 * rather than producing wrong bindings.
 *
 * Run with a JDK 22+ source launcher (see tools/bindgen/README.md):
 *   java --enable-native-access=ALL-UNNAMED tools/bindgen/BindGen.java \
 *       --header native/adept_torch.h --output bindings \
 *       --target-package adept.bindings --header-class-name adept_torch_h
 *
 * libclang is found via $ADEPT_LIBCLANG (a file), else the highest
 * /usr/lib/llvm-N/lib/libclang.so.1, else the highest /usr/lib/x86_64-linux-gnu/libclang-N.so.1.
 * The output depends only on canonical types and cursor/type kinds, never on libclang's
 * version-specific type spellings, so any libclang (16 on Debian 12, 19 on Debian 13) gives
 * byte-identical output.
 */

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemoryLayout;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.SegmentAllocator;
import java.lang.foreign.StructLayout;
import java.lang.foreign.SymbolLookup;
import java.lang.invoke.MethodHandle;
import java.lang.invoke.MethodHandles;
import java.lang.invoke.MethodType;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

public class BindGen {

    // ------------------------------------------------------------------ errors

    static final class GenError extends RuntimeException {
        GenError(String message) {
            super(message);
        }
    }

    static GenError fail(String message) {
        return new GenError(message);
    }

    // ------------------------------------------------------------------ libclang layouts

    static final Linker LINKER = Linker.nativeLinker();

    /** typedef struct { enum CXCursorKind kind; int xdata; const void *data[3]; } CXCursor; */
    static final StructLayout CX_CURSOR = MemoryLayout.structLayout(
            JAVA_INT.withName("kind"), JAVA_INT.withName("xdata"),
            MemoryLayout.sequenceLayout(3, ADDRESS).withName("data"));
    /** typedef struct { enum CXTypeKind kind; void *data[2]; } CXType; */
    static final StructLayout CX_TYPE = MemoryLayout.structLayout(
            JAVA_INT.withName("kind"), MemoryLayout.paddingLayout(4),
            MemoryLayout.sequenceLayout(2, ADDRESS).withName("data"));
    /** typedef struct { const void *data; unsigned private_flags; } CXString; */
    static final StructLayout CX_STRING = MemoryLayout.structLayout(
            ADDRESS.withName("data"), JAVA_INT.withName("private_flags"), MemoryLayout.paddingLayout(4));
    /** typedef struct { const void *ptr_data[2]; unsigned int_data; } CXSourceLocation; */
    static final StructLayout CX_SOURCE_LOCATION = MemoryLayout.structLayout(
            MemoryLayout.sequenceLayout(2, ADDRESS).withName("ptr_data"), JAVA_INT.withName("int_data"),
            MemoryLayout.paddingLayout(4));

    // CXCursorKind
    static final int CURSOR_STRUCT_DECL = 2;
    static final int CURSOR_UNION_DECL = 3;
    static final int CURSOR_ENUM_DECL = 5;
    static final int CURSOR_ENUM_CONSTANT_DECL = 7;
    static final int CURSOR_FUNCTION_DECL = 8;
    static final int CURSOR_VAR_DECL = 9;
    static final int CURSOR_PARM_DECL = 10;
    static final int CURSOR_TYPEDEF_DECL = 20;

    // CXTypeKind
    static final int TYPE_VOID = 2;
    static final int TYPE_BOOL = 3;
    static final int TYPE_CHAR_U = 4;
    static final int TYPE_UCHAR = 5;
    static final int TYPE_USHORT = 8;
    static final int TYPE_UINT = 9;
    static final int TYPE_ULONG = 10;
    static final int TYPE_ULONGLONG = 11;
    static final int TYPE_CHAR_S = 13;
    static final int TYPE_SCHAR = 14;
    static final int TYPE_SHORT = 16;
    static final int TYPE_INT = 17;
    static final int TYPE_LONG = 18;
    static final int TYPE_LONGLONG = 19;
    static final int TYPE_FLOAT = 21;
    static final int TYPE_DOUBLE = 22;
    static final int TYPE_POINTER = 101;
    static final int TYPE_RECORD = 105;
    static final int TYPE_ENUM = 106;
    static final int TYPE_TYPEDEF = 107;
    static final int TYPE_FUNCTION_NO_PROTO = 110;
    static final int TYPE_FUNCTION_PROTO = 111;
    static final int TYPE_ELABORATED = 119;

    // CXDiagnosticSeverity
    static final int DIAG_ERROR = 3;
    static final int DIAG_FATAL = 4;

    // ------------------------------------------------------------------ libclang downcalls

    static final class Clang {
        final MethodHandle createIndex, disposeIndex, parseTranslationUnit, disposeTranslationUnit;
        final MethodHandle getNumDiagnostics, getDiagnostic, getDiagnosticSeverity, formatDiagnostic,
                defaultDiagnosticDisplayOptions, disposeDiagnostic;
        final MethodHandle getTranslationUnitCursor, visitChildren, getCursorKind, getCursorSpelling,
                getCString, disposeString, getCursorResultType, cursorGetNumArguments, cursorGetArgument,
                getCursorType, getCanonicalType, getPointeeType, getTypedefDeclUnderlyingType,
                getEnumConstantDeclValue, getEnumDeclIntegerType, getCursorLocation, locationIsFromMainFile,
                isConstQualifiedType, getTypedefName, typeGetNamedType, getResultType, getNumArgTypes,
                getArgType, isFunctionTypeVariadic, getTypeDeclaration;

        Clang(SymbolLookup lib) {
            createIndex = h(lib, "clang_createIndex", FunctionDescriptor.of(ADDRESS, JAVA_INT, JAVA_INT));
            disposeIndex = h(lib, "clang_disposeIndex", FunctionDescriptor.ofVoid(ADDRESS));
            parseTranslationUnit = h(lib, "clang_parseTranslationUnit", FunctionDescriptor.of(ADDRESS,
                    ADDRESS, ADDRESS, ADDRESS, JAVA_INT, ADDRESS, JAVA_INT, JAVA_INT));
            disposeTranslationUnit = h(lib, "clang_disposeTranslationUnit", FunctionDescriptor.ofVoid(ADDRESS));
            getNumDiagnostics = h(lib, "clang_getNumDiagnostics", FunctionDescriptor.of(JAVA_INT, ADDRESS));
            getDiagnostic = h(lib, "clang_getDiagnostic", FunctionDescriptor.of(ADDRESS, ADDRESS, JAVA_INT));
            getDiagnosticSeverity = h(lib, "clang_getDiagnosticSeverity", FunctionDescriptor.of(JAVA_INT, ADDRESS));
            formatDiagnostic = h(lib, "clang_formatDiagnostic", FunctionDescriptor.of(CX_STRING, ADDRESS, JAVA_INT));
            defaultDiagnosticDisplayOptions = h(lib, "clang_defaultDiagnosticDisplayOptions",
                    FunctionDescriptor.of(JAVA_INT));
            disposeDiagnostic = h(lib, "clang_disposeDiagnostic", FunctionDescriptor.ofVoid(ADDRESS));
            getTranslationUnitCursor = h(lib, "clang_getTranslationUnitCursor",
                    FunctionDescriptor.of(CX_CURSOR, ADDRESS));
            visitChildren = h(lib, "clang_visitChildren",
                    FunctionDescriptor.of(JAVA_INT, CX_CURSOR, ADDRESS, ADDRESS));
            getCursorKind = h(lib, "clang_getCursorKind", FunctionDescriptor.of(JAVA_INT, CX_CURSOR));
            getCursorSpelling = h(lib, "clang_getCursorSpelling", FunctionDescriptor.of(CX_STRING, CX_CURSOR));
            getCString = h(lib, "clang_getCString", FunctionDescriptor.of(ADDRESS, CX_STRING));
            disposeString = h(lib, "clang_disposeString", FunctionDescriptor.ofVoid(CX_STRING));
            getCursorResultType = h(lib, "clang_getCursorResultType", FunctionDescriptor.of(CX_TYPE, CX_CURSOR));
            cursorGetNumArguments = h(lib, "clang_Cursor_getNumArguments",
                    FunctionDescriptor.of(JAVA_INT, CX_CURSOR));
            cursorGetArgument = h(lib, "clang_Cursor_getArgument",
                    FunctionDescriptor.of(CX_CURSOR, CX_CURSOR, JAVA_INT));
            getCursorType = h(lib, "clang_getCursorType", FunctionDescriptor.of(CX_TYPE, CX_CURSOR));
            getCanonicalType = h(lib, "clang_getCanonicalType", FunctionDescriptor.of(CX_TYPE, CX_TYPE));
            getPointeeType = h(lib, "clang_getPointeeType", FunctionDescriptor.of(CX_TYPE, CX_TYPE));
            getTypedefDeclUnderlyingType = h(lib, "clang_getTypedefDeclUnderlyingType",
                    FunctionDescriptor.of(CX_TYPE, CX_CURSOR));
            getEnumConstantDeclValue = h(lib, "clang_getEnumConstantDeclValue",
                    FunctionDescriptor.of(JAVA_LONG, CX_CURSOR));
            getEnumDeclIntegerType = h(lib, "clang_getEnumDeclIntegerType",
                    FunctionDescriptor.of(CX_TYPE, CX_CURSOR));
            getCursorLocation = h(lib, "clang_getCursorLocation",
                    FunctionDescriptor.of(CX_SOURCE_LOCATION, CX_CURSOR));
            locationIsFromMainFile = h(lib, "clang_Location_isFromMainFile",
                    FunctionDescriptor.of(JAVA_INT, CX_SOURCE_LOCATION));
            isConstQualifiedType = h(lib, "clang_isConstQualifiedType", FunctionDescriptor.of(JAVA_INT, CX_TYPE));
            getTypedefName = h(lib, "clang_getTypedefName", FunctionDescriptor.of(CX_STRING, CX_TYPE));
            typeGetNamedType = h(lib, "clang_Type_getNamedType", FunctionDescriptor.of(CX_TYPE, CX_TYPE));
            getResultType = h(lib, "clang_getResultType", FunctionDescriptor.of(CX_TYPE, CX_TYPE));
            getNumArgTypes = h(lib, "clang_getNumArgTypes", FunctionDescriptor.of(JAVA_INT, CX_TYPE));
            getArgType = h(lib, "clang_getArgType", FunctionDescriptor.of(CX_TYPE, CX_TYPE, JAVA_INT));
            isFunctionTypeVariadic = h(lib, "clang_isFunctionTypeVariadic",
                    FunctionDescriptor.of(JAVA_INT, CX_TYPE));
            getTypeDeclaration = h(lib, "clang_getTypeDeclaration", FunctionDescriptor.of(CX_CURSOR, CX_TYPE));
        }

        static MethodHandle h(SymbolLookup lib, String name, FunctionDescriptor desc) {
            MemorySegment addr = lib.find(name)
                    .orElseThrow(() -> fail("libclang lacks the symbol " + name));
            return LINKER.downcallHandle(addr, desc);
        }
    }

    // ------------------------------------------------------------------ libclang wrapper

    final Clang c;
    final Arena arena;

    BindGen(Clang c, Arena arena) {
        this.c = c;
        this.arena = arena;
    }

    static Object call(MethodHandle mh, Object... args) {
        try {
            return mh.invokeWithArguments(args);
        } catch (RuntimeException | Error e) {
            throw e;
        } catch (Throwable t) {
            throw new RuntimeException(t);
        }
    }

    int intCall(MethodHandle mh, Object... args) {
        return (Integer) call(mh, args);
    }

    MemorySegment structCall(MethodHandle mh, Object... args) {
        Object[] all = new Object[args.length + 1];
        all[0] = (SegmentAllocator) arena;
        System.arraycopy(args, 0, all, 1, args.length);
        return (MemorySegment) call(mh, all);
    }

    /** Reads and disposes a CXString. */
    String string(MemorySegment cxString) {
        MemorySegment p = (MemorySegment) call(c.getCString, cxString);
        String s = p.equals(MemorySegment.NULL) ? "" : p.reinterpret(Long.MAX_VALUE).getString(0);
        call(c.disposeString, cxString);
        return s;
    }

    int cursorKind(MemorySegment cursor) {
        return intCall(c.getCursorKind, cursor);
    }

    String spelling(MemorySegment cursor) {
        return string(structCall(c.getCursorSpelling, cursor));
    }

    int typeKind(MemorySegment type) {
        return type.get(JAVA_INT, 0);
    }

    MemorySegment canonical(MemorySegment type) {
        return structCall(c.getCanonicalType, type);
    }

    boolean isFromMainFile(MemorySegment cursor) {
        MemorySegment loc = structCall(c.getCursorLocation, cursor);
        return intCall(c.locationIsFromMainFile, loc) != 0;
    }

    // Visitor: collects the direct children of a cursor (copied out of libclang's frame).
    static List<MemorySegment> collecting;
    static Arena collectingArena;

    static int visitor(MemorySegment cursor, MemorySegment parent, MemorySegment data) {
        MemorySegment copy = collectingArena.allocate(CX_CURSOR);
        copy.copyFrom(cursor);
        collecting.add(copy);
        return 1; // CXChildVisit_Continue
    }

    MemorySegment visitorStub;

    List<MemorySegment> children(MemorySegment cursor) {
        if (visitorStub == null) {
            try {
                MethodHandle target = MethodHandles.lookup().findStatic(BindGen.class, "visitor",
                        MethodType.methodType(int.class, MemorySegment.class, MemorySegment.class,
                                MemorySegment.class));
                visitorStub = LINKER.upcallStub(target,
                        FunctionDescriptor.of(JAVA_INT, CX_CURSOR, CX_CURSOR, ADDRESS), arena);
            } catch (ReflectiveOperationException e) {
                throw new AssertionError(e);
            }
        }
        List<MemorySegment> out = new ArrayList<>();
        collecting = out;
        collectingArena = arena;
        call(c.visitChildren, cursor, visitorStub, MemorySegment.NULL);
        collecting = null;
        return out;
    }

    // ------------------------------------------------------------------ type model

    /** A C type as Java sees it: the layout constant (null for void) and the carrier type. */
    record JType(String layout, String carrier) {
        static final JType VOID = new JType(null, "void");
    }

    /** Maps a type by its canonical kind (so typedef spellings and libclang versions don't matter). */
    JType javaType(MemorySegment type, String context) {
        MemorySegment canon = canonical(type);
        int kind = typeKind(canon);
        return switch (kind) {
            case TYPE_VOID -> JType.VOID;
            case TYPE_BOOL -> new JType("C_BOOL", "boolean");
            case TYPE_CHAR_S, TYPE_CHAR_U, TYPE_SCHAR, TYPE_UCHAR -> new JType("C_CHAR", "byte");
            case TYPE_SHORT, TYPE_USHORT -> new JType("C_SHORT", "short");
            case TYPE_INT, TYPE_UINT -> new JType("C_INT", "int");
            case TYPE_LONG, TYPE_ULONG -> new JType("C_LONG", "long");
            case TYPE_LONGLONG, TYPE_ULONGLONG -> new JType("C_LONG_LONG", "long");
            case TYPE_FLOAT -> new JType("C_FLOAT", "float");
            case TYPE_DOUBLE -> new JType("C_DOUBLE", "double");
            case TYPE_POINTER -> new JType("C_POINTER", "MemorySegment");
            case TYPE_ENUM -> {
                MemorySegment decl = structCall(c.getTypeDeclaration, canon);
                yield javaType(structCall(c.getEnumDeclIntegerType, decl), context);
            }
            default -> throw fail("unsupported C type (CXTypeKind " + kind + ") in " + context
                    + "; BindGen supports only scalars, pointers and enums");
        };
    }

    static final String[] BUILTIN_NAMES = new String[32];
    static {
        BUILTIN_NAMES[TYPE_VOID] = "void";
        BUILTIN_NAMES[TYPE_BOOL] = "_Bool";
        BUILTIN_NAMES[TYPE_CHAR_U] = "char";
        BUILTIN_NAMES[TYPE_UCHAR] = "unsigned char";
        BUILTIN_NAMES[TYPE_USHORT] = "unsigned short";
        BUILTIN_NAMES[TYPE_UINT] = "unsigned int";
        BUILTIN_NAMES[TYPE_ULONG] = "unsigned long";
        BUILTIN_NAMES[TYPE_ULONGLONG] = "unsigned long long";
        BUILTIN_NAMES[TYPE_CHAR_S] = "char";
        BUILTIN_NAMES[TYPE_SCHAR] = "signed char";
        BUILTIN_NAMES[TYPE_SHORT] = "short";
        BUILTIN_NAMES[TYPE_INT] = "int";
        BUILTIN_NAMES[TYPE_LONG] = "long";
        BUILTIN_NAMES[TYPE_LONGLONG] = "long long";
        BUILTIN_NAMES[TYPE_FLOAT] = "float";
        BUILTIN_NAMES[TYPE_DOUBLE] = "double";
    }

    /**
     * Renders a C declaration of {@code declarator} with type {@code type}, for the doc
     * comments. It is built from type kinds, typedef names and declaration names rather than
     * clang_getTypeSpelling, whose output differs between libclang versions (elaborated types).
     */
    String renderDecl(MemorySegment type, String declarator) {
        int kind = typeKind(type);
        boolean isConst = intCall(c.isConstQualifiedType, type) != 0;
        while (kind == TYPE_ELABORATED) {
            type = structCall(c.typeGetNamedType, type);
            kind = typeKind(type);
            isConst |= intCall(c.isConstQualifiedType, type) != 0;
        }
        if (kind == TYPE_POINTER) {
            MemorySegment pointee = structCall(c.getPointeeType, type);
            String inner = "*" + (isConst ? "const " : "") + declarator;
            int pointeeCanonKind = typeKind(canonical(pointee));
            int pointeeKind = typeKind(pointee);
            if ((pointeeCanonKind == TYPE_FUNCTION_PROTO || pointeeCanonKind == TYPE_FUNCTION_NO_PROTO)
                    && pointeeKind != TYPE_TYPEDEF && pointeeKind != TYPE_ELABORATED) {
                return renderFunction(canonical(pointee), "(" + inner + ")", null);
            }
            return renderDecl(pointee, inner);
        }
        String base;
        if (kind == TYPE_TYPEDEF) {
            base = string(structCall(c.getTypedefName, type));
        } else if (kind == TYPE_ENUM) {
            base = "enum " + spelling(structCall(c.getTypeDeclaration, type));
        } else if (kind == TYPE_RECORD) {
            MemorySegment decl = structCall(c.getTypeDeclaration, type);
            base = (cursorKind(decl) == CURSOR_UNION_DECL ? "union " : "struct ") + spelling(decl);
        } else if (kind >= 0 && kind < BUILTIN_NAMES.length && BUILTIN_NAMES[kind] != null) {
            base = BUILTIN_NAMES[kind];
        } else {
            throw fail("cannot render C type (CXTypeKind " + kind + ") of " + declarator);
        }
        String text = (isConst ? "const " : "") + base;
        if (declarator.isEmpty()) {
            return text;
        }
        return text + " " + declarator;
    }

    /** Renders a function type as a declaration of {@code declarator}; names may be null. */
    String renderFunction(MemorySegment fnType, String declarator, List<String> names) {
        int n = Math.max(0, intCall(c.getNumArgTypes, fnType));
        List<String> params = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            String name = names != null && i < names.size() ? names.get(i) : "";
            params.add(renderDecl(structCall(c.getArgType, fnType, i), name));
        }
        return renderDecl(structCall(c.getResultType, fnType), declarator + "(" + String.join(", ", params) + ")");
    }

    // ------------------------------------------------------------------ declarations

    record Param(String cName, String javaName, JType type, String cDecl) {}

    record Function(String name, JType result, List<Param> params, String cDecl) {}

    record EnumConstant(String name, String enumName, long value, JType type) {}

    record PointerTypedef(String name, String cDecl) {}

    record FunctionPointerTypedef(String name, JType result, List<Param> params, String cDecl) {}

    final List<Object> decls = new ArrayList<>();
    final Set<String> seen = new LinkedHashSet<>();

    static final Set<String> JAVA_KEYWORDS = Set.of("abstract", "assert", "boolean", "break", "byte", "case",
            "catch", "char", "class", "const", "continue", "default", "do", "double", "else", "enum", "extends",
            "false", "final", "finally", "float", "for", "goto", "if", "implements", "import", "instanceof",
            "int", "interface", "long", "native", "new", "null", "package", "private", "protected", "public",
            "return", "short", "static", "strictfp", "super", "switch", "synchronized", "this", "throw",
            "throws", "transient", "true", "try", "void", "volatile", "while", "_");

    static String javaName(String cName, int index) {
        if (cName == null || cName.isEmpty()) {
            return "x" + index;
        }
        return JAVA_KEYWORDS.contains(cName) ? cName + "_" : cName;
    }

    void collect(MemorySegment tuCursor) {
        for (MemorySegment cursor : children(tuCursor)) {
            if (!isFromMainFile(cursor)) {
                continue;
            }
            int kind = cursorKind(cursor);
            switch (kind) {
                case CURSOR_FUNCTION_DECL -> function(cursor);
                case CURSOR_TYPEDEF_DECL -> typedef(cursor);
                case CURSOR_ENUM_DECL -> enumDecl(cursor);
                case CURSOR_STRUCT_DECL, CURSOR_UNION_DECL -> {
                    // Opaque (incomplete) records are only used through pointers: nothing to emit.
                    if (!children(cursor).isEmpty()) {
                        throw fail("struct/union definitions are not supported: " + spelling(cursor));
                    }
                }
                case CURSOR_VAR_DECL -> throw fail("global variables are not supported: " + spelling(cursor));
                default -> {
                    // Other cursors (e.g. unexposed/linkage-spec) carry nothing for C bindings.
                }
            }
        }
    }

    void function(MemorySegment cursor) {
        String name = spelling(cursor);
        if (!seen.add("fn:" + name)) {
            return; // redeclaration
        }
        MemorySegment fnType = canonical(structCall(c.getCursorType, cursor));
        if (typeKind(fnType) == TYPE_FUNCTION_PROTO && intCall(c.isFunctionTypeVariadic, fnType) != 0) {
            throw fail("variadic functions are not supported: " + name);
        }
        MemorySegment resultType = structCall(c.getCursorResultType, cursor);
        JType result = javaType(resultType, "the result of " + name);
        int n = intCall(c.cursorGetNumArguments, cursor);
        List<Param> params = new ArrayList<>();
        List<String> cParams = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            MemorySegment arg = structCall(c.cursorGetArgument, cursor, i);
            String cName = spelling(arg);
            MemorySegment argType = structCall(c.getCursorType, arg);
            String cDecl = renderDecl(argType, cName);
            params.add(new Param(cName, javaName(cName, i), javaType(argType, "parameter " + i + " of " + name), cDecl));
            cParams.add(cDecl);
        }
        String cDecl = renderDecl(resultType, name + "(" + String.join(", ", cParams) + ")");
        decls.add(new Function(name, result, params, cDecl));
    }

    void typedef(MemorySegment cursor) {
        String name = spelling(cursor);
        if (!seen.add("typedef:" + name)) {
            return;
        }
        MemorySegment underlying = structCall(c.getTypedefDeclUnderlyingType, cursor);
        MemorySegment canon = canonical(underlying);
        int kind = typeKind(canon);
        if (kind == TYPE_POINTER) {
            MemorySegment pointee = canonical(structCall(c.getPointeeType, canon));
            int pk = typeKind(pointee);
            if (pk == TYPE_FUNCTION_PROTO || pk == TYPE_FUNCTION_NO_PROTO) {
                if (pk == TYPE_FUNCTION_PROTO && intCall(c.isFunctionTypeVariadic, pointee) != 0) {
                    throw fail("variadic function pointer typedefs are not supported: " + name);
                }
                // Parameter names come from the typedef's ParmDecl children.
                List<String> names = new ArrayList<>();
                for (MemorySegment child : children(cursor)) {
                    if (cursorKind(child) == CURSOR_PARM_DECL) {
                        names.add(spelling(child));
                    }
                }
                int n = intCall(c.getNumArgTypes, pointee);
                List<Param> params = new ArrayList<>();
                for (int i = 0; i < n; i++) {
                    String cName = i < names.size() ? names.get(i) : "";
                    MemorySegment argType = structCall(c.getArgType, pointee, i);
                    params.add(new Param(cName, javaName(cName, i),
                            javaType(argType, "parameter " + i + " of " + name), renderDecl(argType, cName)));
                }
                JType result = javaType(structCall(c.getResultType, pointee), "the result of " + name);
                String cDecl = "typedef " + renderFunction(pointee, "(*" + name + ")", names);
                decls.add(new FunctionPointerTypedef(name, result, params, cDecl));
                return;
            }
            decls.add(new PointerTypedef(name, "typedef " + renderDecl(underlying, name)));
            return;
        }
        throw fail("only pointer and function-pointer typedefs are supported: " + name);
    }

    void enumDecl(MemorySegment cursor) {
        String enumName = spelling(cursor);
        JType type = javaType(structCall(c.getEnumDeclIntegerType, cursor), "enum " + enumName);
        for (MemorySegment child : children(cursor)) {
            if (cursorKind(child) != CURSOR_ENUM_CONSTANT_DECL) {
                continue;
            }
            String name = spelling(child);
            if (!seen.add("const:" + name)) {
                continue;
            }
            long value = (Long) call(c.getEnumConstantDeclValue, child);
            decls.add(new EnumConstant(name, enumName, value, type));
        }
    }

    // ------------------------------------------------------------------ emission

    static final class Out {
        final StringBuilder sb = new StringBuilder();

        Out line(String s) {
            sb.append(s).append('\n');
            return this;
        }

        Out line() {
            sb.append('\n');
            return this;
        }
    }

    static String header(String headerPath) {
        return "// Generated by tools/bindgen/BindGen.java (a jextract stand-in) from " + headerPath + ".\n"
                + "// Do not edit by hand: change the header and run tools/bindgen/generate.sh.\n";
    }

    /** jextract's NAME$suffix() accessor of one field of a function's holder class, with its doc comment. */
    private static void holderAccessor(Out o, String title, String cDecl, String type, String name, String suffix, String field) {
        o.line("    /**");
        o.line("     * " + title);
        o.line("     * {@snippet lang=c :");
        o.line("     * " + cDecl);
        o.line("     * }");
        o.line("     */");
        o.line("    public static " + type + " " + name + "$" + suffix + "() {");
        o.line("        return " + name + "." + field + ";");
        o.line("    }");
        o.line();
    }

    static void doc(Out o, String indent, String cText) {
        o.line(indent + "/**");
        o.line(indent + " * {@snippet lang=c :");
        o.line(indent + " * " + cText);
        o.line(indent + " * }");
        o.line(indent + " */");
    }

    static String descriptor(String hc, JType result, List<Param> params, String indent) {
        List<String> layouts = new ArrayList<>();
        if (result.layout() != null) {
            layouts.add(hc + "." + result.layout());
        }
        for (Param p : params) {
            layouts.add(hc + "." + p.type().layout());
        }
        String factory = result.layout() == null ? "FunctionDescriptor.ofVoid(" : "FunctionDescriptor.of(";
        if (layouts.isEmpty()) {
            return factory + ")";
        }
        StringBuilder sb = new StringBuilder(factory).append('\n');
        for (int i = 0; i < layouts.size(); i++) {
            sb.append(indent).append("    ").append(layouts.get(i)).append(i + 1 < layouts.size() ? ",\n" : "\n");
        }
        return sb.append(indent).append(")").toString();
    }

    static String paramList(List<Param> params) {
        List<String> out = new ArrayList<>();
        for (Param p : params) {
            out.add(p.type().carrier() + " " + p.javaName());
        }
        return String.join(", ", out);
    }

    static String argList(List<Param> params) {
        List<String> out = new ArrayList<>();
        for (Param p : params) {
            out.add(p.javaName());
        }
        return String.join(", ", out);
    }

    /** The generated-file comment, package and jextract's imports, as every generated file starts. */
    private void preamble(Out o, String pkg, String headerPath) {
        o.sb.append(header(headerPath));
        o.line();
        o.line("package " + pkg + ";");
        o.line();
        o.line("import java.lang.invoke.*;");
        o.line("import java.lang.foreign.*;");
        o.line("import java.nio.ByteOrder;");
        o.line("import java.util.*;");
        o.line("import java.util.function.*;");
        o.line("import java.util.stream.*;");
        o.line();
        o.line("import static java.lang.foreign.ValueLayout.*;");
        o.line("import static java.lang.foreign.MemoryLayout.PathElement.*;");
        o.line();
    }

    String emitHeaderClass(String pkg, String hc, String headerPath) {
        Out o = new Out();
        preamble(o, pkg, headerPath);
        o.line("public class " + hc + " {");
        o.line();
        o.line("    " + hc + "() {");
        o.line("        // Should not be called directly");
        o.line("    }");
        o.line();
        o.line("    static final Arena LIBRARY_ARENA = Arena.ofAuto();");
        o.line("    static final boolean TRACE_DOWNCALLS = Boolean.getBoolean(\"jextract.trace.downcalls\");");
        o.line();
        o.line("    static void traceDowncall(String name, Object... args) {");
        o.line("         String traceArgs = Arrays.stream(args)");
        o.line("                       .map(Object::toString)");
        o.line("                       .collect(Collectors.joining(\", \"));");
        o.line("         System.out.printf(\"%s(%s)\\n\", name, traceArgs);");
        o.line("    }");
        o.line();
        o.line("    static MemorySegment findOrThrow(String symbol) {");
        o.line("        return SYMBOL_LOOKUP.find(symbol)");
        o.line("            .orElseThrow(() -> new UnsatisfiedLinkError(\"unresolved symbol: \" + symbol));");
        o.line("    }");
        o.line();
        o.line("    static MethodHandle upcallHandle(Class<?> fi, String name, FunctionDescriptor fdesc) {");
        o.line("        try {");
        o.line("            return MethodHandles.lookup().findVirtual(fi, name, fdesc.toMethodType());");
        o.line("        } catch (ReflectiveOperationException ex) {");
        o.line("            throw new AssertionError(ex);");
        o.line("        }");
        o.line("    }");
        o.line();
        o.line("    static MemoryLayout align(MemoryLayout layout, long align) {");
        o.line("        return switch (layout) {");
        o.line("            case PaddingLayout p -> p;");
        o.line("            case ValueLayout v -> v.withByteAlignment(align);");
        o.line("            case GroupLayout g -> {");
        o.line("                MemoryLayout[] alignedMembers = g.memberLayouts().stream()");
        o.line("                        .map(m -> align(m, align)).toArray(MemoryLayout[]::new);");
        o.line("                yield g instanceof StructLayout ?");
        o.line("                        MemoryLayout.structLayout(alignedMembers) : MemoryLayout.unionLayout(alignedMembers);");
        o.line("            }");
        o.line("            case SequenceLayout s -> MemoryLayout.sequenceLayout(s.elementCount(), align(s.elementLayout(), align));");
        o.line("        };");
        o.line("    }");
        o.line();
        o.line("    static final SymbolLookup SYMBOL_LOOKUP = SymbolLookup.loaderLookup()");
        o.line("            .or(Linker.nativeLinker().defaultLookup());");
        o.line();
        o.line("    public static final ValueLayout.OfBoolean C_BOOL = ValueLayout.JAVA_BOOLEAN;");
        o.line("    public static final ValueLayout.OfByte C_CHAR = ValueLayout.JAVA_BYTE;");
        o.line("    public static final ValueLayout.OfShort C_SHORT = ValueLayout.JAVA_SHORT;");
        o.line("    public static final ValueLayout.OfInt C_INT = ValueLayout.JAVA_INT;");
        o.line("    public static final ValueLayout.OfLong C_LONG_LONG = ValueLayout.JAVA_LONG;");
        o.line("    public static final ValueLayout.OfFloat C_FLOAT = ValueLayout.JAVA_FLOAT;");
        o.line("    public static final ValueLayout.OfDouble C_DOUBLE = ValueLayout.JAVA_DOUBLE;");
        o.line("    public static final AddressLayout C_POINTER = ValueLayout.ADDRESS");
        o.line("            .withTargetLayout(MemoryLayout.sequenceLayout(java.lang.Long.MAX_VALUE, JAVA_BYTE));");
        o.line("    public static final ValueLayout.OfLong C_LONG = ValueLayout.JAVA_LONG;");
        for (Object d : decls) {
            switch (d) {
                case PointerTypedef t -> {
                    doc(o, "    ", t.cDecl());
                    o.line("    public static final AddressLayout " + t.name() + " = C_POINTER;");
                }
                case EnumConstant e -> {
                    String carrier = e.type().carrier();
                    o.line("    private static final " + carrier + " " + e.name() + " = (" + carrier + ")"
                            + e.value() + "L;");
                    doc(o, "    ", "enum " + e.enumName() + "." + e.name() + " = " + e.value());
                    o.line("    public static " + carrier + " " + e.name() + "() {");
                    o.line("        return " + e.name() + ";");
                    o.line("    }");
                }
                case Function f -> emitFunction(o, hc, f);
                default -> {
                    // function-pointer typedefs get their own class
                }
            }
        }
        o.line("}");
        return o.sb.toString();
    }

    void emitFunction(Out o, String hc, Function f) {
        String n = f.name();
        o.line();
        o.line("    private static class " + n + " {");
        o.line("        public static final FunctionDescriptor DESC = "
                + descriptor(hc, f.result(), f.params(), "        ") + ";");
        o.line();
        o.line("        public static final MemorySegment ADDR = " + hc + ".findOrThrow(\"" + n + "\");");
        o.line();
        o.line("        public static final MethodHandle HANDLE = Linker.nativeLinker().downcallHandle(ADDR, DESC);");
        o.line("    }");
        o.line();
        holderAccessor(o, "Function descriptor for:", f.cDecl(), "FunctionDescriptor", n, "descriptor", "DESC");
        holderAccessor(o, "Downcall method handle for:", f.cDecl(), "MethodHandle", n, "handle", "HANDLE");
        holderAccessor(o, "Address for:", f.cDecl(), "MemorySegment", n, "address", "ADDR");
        doc(o, "    ", f.cDecl());
        String ret = f.result().carrier();
        o.line("    public static " + ret + " " + n + "(" + paramList(f.params()) + ") {");
        o.line("        var mh$ = " + n + ".HANDLE;");
        o.line("        try {");
        o.line("            if (TRACE_DOWNCALLS) {");
        String args = argList(f.params());
        o.line("                traceDowncall(\"" + n + "\"" + (args.isEmpty() ? "" : ", " + args) + ");");
        o.line("            }");
        if (f.result().layout() == null) {
            o.line("            mh$.invokeExact(" + args + ");");
        } else {
            o.line("            return (" + ret + ")mh$.invokeExact(" + args + ");");
        }
        o.line("        } catch (Throwable ex$) {");
        o.line("           throw new AssertionError(\"should not reach here\", ex$);");
        o.line("        }");
        o.line("    }");
    }

    String emitFunctionPointerClass(String pkg, String hc, String headerPath, FunctionPointerTypedef t) {
        String n = t.name();
        Out o = new Out();
        preamble(o, pkg, headerPath);
        doc(o, "", t.cDecl());
        o.line("public class " + n + " {");
        o.line();
        o.line("    " + n + "() {");
        o.line("        // Should not be called directly");
        o.line("    }");
        o.line();
        o.line("    /**");
        o.line("     * The function pointer signature, expressed as a functional interface");
        o.line("     */");
        o.line("    public interface Function {");
        o.line("        " + t.result().carrier() + " apply(" + paramList(t.params()) + ");");
        o.line("    }");
        o.line();
        o.line("    private static final FunctionDescriptor $DESC = " + descriptor(hc, t.result(), t.params(), "    ")
                + ";");
        o.line();
        o.line("    /**");
        o.line("     * The descriptor of this function pointer");
        o.line("     */");
        o.line("    public static FunctionDescriptor descriptor() {");
        o.line("        return $DESC;");
        o.line("    }");
        o.line();
        o.line("    private static final MethodHandle UP$MH = " + hc + ".upcallHandle(" + n
                + ".Function.class, \"apply\", $DESC);");
        o.line();
        o.line("    /**");
        o.line("     * Allocates a new upcall stub, whose implementation is defined by {@code fi}.");
        o.line("     * The lifetime of the returned segment is managed by {@code arena}");
        o.line("     */");
        o.line("    public static MemorySegment allocate(" + n + ".Function fi, Arena arena) {");
        o.line("        return Linker.nativeLinker().upcallStub(UP$MH.bindTo(fi), $DESC, arena);");
        o.line("    }");
        o.line();
        o.line("    private static final MethodHandle DOWN$MH = Linker.nativeLinker().downcallHandle($DESC);");
        o.line();
        o.line("    /**");
        o.line("     * Invoke the upcall stub {@code funcPtr}, with given parameters");
        o.line("     */");
        String params = paramList(t.params());
        String args = argList(t.params());
        String ret = t.result().carrier();
        o.line("    public static " + ret + " invoke(MemorySegment funcPtr" + (params.isEmpty() ? "" : ", " + params)
                + ") {");
        o.line("        try {");
        String invoke = "DOWN$MH.invokeExact(funcPtr" + (args.isEmpty() ? "" : ", " + args) + ");";
        if (t.result().layout() == null) {
            o.line("            " + invoke);
        } else {
            o.line("            return (" + ret + ")" + invoke);
        }
        o.line("        } catch (Throwable ex$) {");
        o.line("            throw new AssertionError(\"should not reach here\", ex$);");
        o.line("        }");
        o.line("    }");
        o.line("}");
        return o.sb.toString();
    }

    // ------------------------------------------------------------------ libclang discovery

    static final Pattern LLVM_DIR = Pattern.compile("llvm-(\\d+)");
    static final Pattern LIBCLANG_FILE = Pattern.compile("libclang-(\\d+)\\.so\\.1");

    static Path findLibclang() {
        String env = System.getenv("ADEPT_LIBCLANG");
        if (env != null && !env.isEmpty()) {
            Path p = Path.of(env);
            if (!Files.isRegularFile(p)) {
                throw fail("ADEPT_LIBCLANG=" + env + " is not a file");
            }
            return p;
        }
        Optional<Path> llvm = highest(Path.of("/usr/lib"), LLVM_DIR, p -> p.resolve("lib/libclang.so.1"));
        if (llvm.isPresent()) {
            return llvm.get();
        }
        Optional<Path> multiarch = highest(Path.of("/usr/lib/x86_64-linux-gnu"), LIBCLANG_FILE, p -> p);
        if (multiarch.isPresent()) {
            return multiarch.get();
        }
        throw fail("libclang not found (looked at $ADEPT_LIBCLANG, /usr/lib/llvm-*/lib/libclang.so.1 and "
                + "/usr/lib/x86_64-linux-gnu/libclang-*.so.1); install it with "
                + "`apt-get install libclang1-16` (Debian 12) or `apt-get install libclang1-19` (Debian 13), "
                + "or point ADEPT_LIBCLANG at a libclang.so");
    }

    static Optional<Path> highest(Path dir, Pattern name, java.util.function.Function<Path, Path> toLib) {
        if (!Files.isDirectory(dir)) {
            return Optional.empty();
        }
        try (Stream<Path> entries = Files.list(dir)) {
            return entries
                    .filter(p -> name.matcher(p.getFileName().toString()).matches())
                    .filter(p -> Files.isRegularFile(toLib.apply(p)))
                    .max(Comparator.comparingInt(p -> {
                        Matcher m = name.matcher(p.getFileName().toString());
                        m.matches();
                        return Integer.parseInt(m.group(1));
                    }))
                    .map(toLib);
        } catch (IOException e) {
            return Optional.empty();
        }
    }

    // ------------------------------------------------------------------ main

    static void usage(String message) {
        throw fail(message + "\nusage: java --enable-native-access=ALL-UNNAMED tools/bindgen/BindGen.java "
                + "--header FILE.h --output DIR --target-package PKG --header-class-name NAME");
    }

    public static void main(String[] argv) {
        try {
            run(argv);
        } catch (GenError e) {
            System.err.println("BindGen: error: " + e.getMessage());
            System.exit(1);
        }
    }

    static void run(String[] argv) {
        Map<String, String> opts = new LinkedHashMap<>();
        for (int i = 0; i < argv.length; i++) {
            String a = argv[i];
            if (!a.startsWith("--") || i + 1 >= argv.length) {
                usage("bad argument: " + a);
            }
            opts.put(a.substring(2), argv[++i]);
        }
        for (String k : opts.keySet()) {
            if (!List.of("header", "output", "target-package", "header-class-name").contains(k)) {
                usage("unknown option --" + k);
            }
        }
        String headerPath = opts.get("header");
        String output = opts.get("output");
        String pkg = opts.get("target-package");
        String hc = opts.get("header-class-name");
        if (headerPath == null || output == null || pkg == null || hc == null) {
            usage("missing option");
        }
        if (!Files.isRegularFile(Path.of(headerPath))) {
            throw fail("header not found: " + headerPath);
        }

        Path lib = findLibclang();
        try (Arena arena = Arena.ofConfined()) {
            Clang clang = new Clang(SymbolLookup.libraryLookup(lib, arena));
            BindGen gen = new BindGen(clang, arena);
            MemorySegment index = (MemorySegment) call(clang.createIndex, 0, 0);
            List<String> args = List.of("-x", "c", "-std=c11");
            MemorySegment argArray = arena.allocate(ADDRESS, args.size());
            for (int i = 0; i < args.size(); i++) {
                argArray.setAtIndex(ADDRESS, i, arena.allocateFrom(args.get(i)));
            }
            MemorySegment tu = (MemorySegment) call(clang.parseTranslationUnit, index,
                    arena.allocateFrom(headerPath), argArray, args.size(), MemorySegment.NULL, 0, 0);
            if (tu.equals(MemorySegment.NULL)) {
                throw fail("libclang (" + lib + ") could not parse " + headerPath);
            }
            try {
                gen.checkDiagnostics(tu, headerPath);
                gen.collect(gen.structCall(clang.getTranslationUnitCursor, tu));
            } finally {
                call(clang.disposeTranslationUnit, tu);
                call(clang.disposeIndex, index);
            }
            gen.write(Path.of(output), pkg, hc, headerPath);
        }
    }

    void checkDiagnostics(MemorySegment tu, String headerPath) {
        int n = intCall(c.getNumDiagnostics, tu);
        int options = intCall(c.defaultDiagnosticDisplayOptions);
        List<String> errors = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            MemorySegment diag = (MemorySegment) call(c.getDiagnostic, tu, i);
            int severity = intCall(c.getDiagnosticSeverity, diag);
            String text = string(structCall(c.formatDiagnostic, diag, options));
            call(c.disposeDiagnostic, diag);
            if (severity == DIAG_ERROR || severity == DIAG_FATAL) {
                errors.add(text);
            } else {
                System.err.println("BindGen: " + text);
            }
        }
        if (!errors.isEmpty()) {
            throw fail("libclang reported errors parsing " + headerPath + ":\n  " + String.join("\n  ", errors));
        }
    }

    void write(Path output, String pkg, String hc, String headerPath) {
        Path dir = output;
        for (String part : pkg.split("\\.")) {
            dir = dir.resolve(part);
        }
        Map<String, String> files = new LinkedHashMap<>();
        files.put(hc + ".java", emitHeaderClass(pkg, hc, headerPath));
        for (Object d : decls) {
            if (d instanceof FunctionPointerTypedef t) {
                files.put(t.name() + ".java", emitFunctionPointerClass(pkg, hc, headerPath, t));
            }
        }
        try {
            Files.createDirectories(dir);
            for (Map.Entry<String, String> e : files.entrySet()) {
                Files.writeString(dir.resolve(e.getKey()), e.getValue(), StandardCharsets.UTF_8);
            }
        } catch (IOException e) {
            throw fail("cannot write " + dir + ": " + e);
        }
    }
}
