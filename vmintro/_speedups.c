/*
 * The hot paths of a walk in C: a struct member as an attribute
 * (``area.addr``) and a scalar's ``value_()`` (vmintro.object), following
 * a NULL-terminated list (vmintro.helpers.list.singly_linked), and
 * translating an address whose page tables were already read
 * (vmintro.pagewalk.TranslationCache.translate, which Program.translate is), and
 * the helpers called once per address (vmalloc_to_pfn, vmalloc_to_page,
 * virt_to_page, page_to_pfn of vmintro.helpers), and the checks of a core's program
 * header table when it is opened (vmintro.image.reader.core).
 *
 * The Python modules stay the definition of what these do; they hand this module
 * everything they need (the slot layout of Object, a member's offset and
 * type, the program's page cache and read method) and uses the pure-Python
 * closures instead when this module cannot be imported.  Anything off the
 * fast path (a struct value, a pointer variable, an uncached page) is passed
 * back to the same Python methods those closures call.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <structmember.h>
#include <limits.h>
#include <stdint.h>
#include <string.h>

#if PY_VERSION_HEX < 0x030C0000
#define Py_T_OBJECT_EX T_OBJECT_EX
#define Py_READONLY READONLY
#endif

/*
 * Python 3.11's long long conversions go through a byte array for any value of more
 * than one digit; its long ones do not.  Where long has 64 bits (LP64) these are the
 * long ones, else the long long ones: the same values and errors either way.
 */
#if ULONG_MAX >= 0xFFFFFFFFFFFFFFFFULL
#define AS_ULL(v) ((unsigned long long)PyLong_AsUnsignedLong(v))
#define AS_LL(v) ((long long)PyLong_AsLong(v))
#define INT_OF_ULL(v) PyLong_FromUnsignedLong((unsigned long)(v))
#define FROM_LL(v) PyLong_FromLong((long)(v))
#else
#define AS_ULL(v) PyLong_AsUnsignedLongLong(v)
#define AS_LL(v) PyLong_AsLongLong(v)
#define INT_OF_ULL(v) PyLong_FromUnsignedLongLong(v)
#define FROM_LL(v) PyLong_FromLongLong(v)
#endif
#define FROM_ULL(v) int_of_u64(v)

/*
 * ``v``, an exact int, as an unsigned 64-bit number: 1 with *out set, or 0 with no
 * exception where it is negative or does not fit (the callers' Python forms then decide).
 * The ints the helpers are called with (addresses below 2**60) are read from their digits
 * where the layout is known: PyLong_AsUnsignedLong's checks cost more than the helper's
 * own arithmetic.
 */
static inline int
u64_of(PyObject *v, unsigned long long *out)
{
#if PY_VERSION_HEX >= 0x030C0000
    if (PyUnstable_Long_IsCompact((PyLongObject *)v)) {
        Py_ssize_t x = PyUnstable_Long_CompactValue((PyLongObject *)v);
        if (x < 0)
            return 0;
        *out = (unsigned long long)x;
        return 1;
    }
#elif PY_VERSION_HEX >= 0x030B0000 && PYLONG_BITS_IN_DIGIT == 30
    const digit *d = ((PyLongObject *)v)->ob_digit;
    switch (Py_SIZE(v)) {
    case 0:
        *out = 0;
        return 1;
    case 1:
        *out = d[0];
        return 1;
    case 2:
        *out = (unsigned long long)d[1] << 30 | d[0];
        return 1;
    default:
        if (Py_SIZE(v) < 0)
            return 0;
    }
#endif
    unsigned long long x = AS_ULL(v);
    if (x == (unsigned long long)-1 && PyErr_Occurred()) {
        PyErr_Clear();
        return 0;
    }
    *out = x;
    return 1;
}

/* Where the ints of two digits are written in place: CPython 3.11's layout (3.12 changed
 * it), 30-bit digits. */
#if PY_VERSION_HEX >= 0x030B0000 && PY_VERSION_HEX < 0x030C0000 && PYLONG_BITS_IN_DIGIT == 30
#define TWO_DIGIT_INTS 1
#else
#define TWO_DIGIT_INTS 0
#endif

/*
 * Where the light classes may be: a build with the GIL (the free lists are plain C arrays
 * the GIL guards; a free-threaded build allocates per thread and type) and without
 * Py_TRACE_REFS (whose list of live objects a reused object would not be on).  Elsewhere
 * light_class() leaves the class as CPython made it, and no int is kept.
 */
#if !defined(Py_GIL_DISABLED) && !defined(Py_TRACE_REFS)
#define LIGHT_CLASSES 1
#else
#define LIGHT_CLASSES 0
#endif

/*
 * The two-digit ints that were the values of light Objects and went with them (see
 * light_dealloc), kept for int_of_u64 to give out again with new digits, as CPython keeps
 * the memory of dropped floats and tuples.  A helper that returns a ``struct page *`` makes
 * an Object and its int per call, and the caller mostly drops both at once: allocating and
 * freeing the int took some 7 ns of virt_to_page's 45.  An int is kept only while this
 * module holds its one reference: nobody else can see its digits change.
 */
#define FREE_INTS 256
/* Not in a build that counts references (Py_REF_DEBUG): a kept int's one reference is
 * never dropped, and handing it out again counts a new one (see int_of_u64). */
#if TWO_DIGIT_INTS && LIGHT_CLASSES && !defined(Py_REF_DEBUG)
#define KEEP_INTS 1
#else
#define KEEP_INTS 0
#endif
static struct {
    PyObject *items[FREE_INTS];
    int n;
} free_ints;

/* Keep ``value``, a reference being dropped, in free_ints where it is an exact int of two
 * digits that nothing else holds: 1, else 0 (the caller drops it). */
static inline int
int_keep(PyObject *value)
{
#if KEEP_INTS
    if (Py_REFCNT(value) == 1 && Py_IS_TYPE(value, &PyLong_Type) && Py_SIZE(value) == 2
        && free_ints.n < FREE_INTS) {
        free_ints.items[free_ints.n++] = value;
        return 1;
    }
#else
    (void)value;
#endif
    return 0;
}

/*
 * ``x`` as an int (FROM_ULL).  Where CPython 3.11's layout is known, the ints of
 * two digits (2**30 to 2**60: every kernel address from PAGE_OFFSET on) are made with
 * their size known, without PyLong_FromUnsignedLong's counting and copying of digits,
 * out of free_ints where it has one.
 */
static inline PyObject *
int_of_u64(unsigned long long x)
{
#if TWO_DIGIT_INTS
    if (x >> 30 != 0 && x >> 60 == 0) {
        PyLongObject *v;
        if (free_ints.n > 0) {
            v = (PyLongObject *)free_ints.items[--free_ints.n];
            /* a new object to tracemalloc, as CPython's own free lists tell it: its
             * traceback is this call's, not that of the int the memory held before */
            _Py_NewReference((PyObject *)v);
        }
        else
            v = _PyLong_New(2);
        if (v != NULL) {
            v->ob_digit[0] = (digit)(x & PyLong_MASK);
            v->ob_digit[1] = (digit)(x >> PyLong_SHIFT);
        }
        return (PyObject *)v;
    }
#endif
    return INT_OF_ULL(x);
}

#if defined(__GNUC__) || defined(__clang__)
#define ALWAYS_INLINE inline __attribute__((always_inline))
#else
#define ALWAYS_INLINE inline
#endif

#define PAGE_SIZE 4096ULL
#define PAGE_MASK (PAGE_SIZE - 1)

/* Object's four slots, found from its member descriptors by bind_object(). */
static PyTypeObject *object_base;
static Py_ssize_t off_prog, off_type, off_address, off_value;

#define SLOT(obj, off) (*(PyObject **)((char *)(obj) + (off)))

static PyObject *str_int;     /* "_int" */
static PyObject *str_read;    /* "read" */
static PyObject *str_read_u32;  /* "read_u32" */
static PyObject *str_member;  /* "member_" */

static int
check_object(PyObject *obj)
{
    if (object_base == NULL) {
        PyErr_SetString(PyExc_RuntimeError, "vmintro._speedups: bind_object() was not called");
        return -1;
    }
    if (!PyObject_TypeCheck(obj, object_base)) {
        PyErr_Format(PyExc_TypeError, "expected an Object, not '%.100s'", Py_TYPE(obj)->tp_name);
        return -1;
    }
    return 0;
}

/* A slot's value, as reading it from Python would give it. */
static PyObject *
get_slot(PyObject *obj, Py_ssize_t off, const char *name)
{
    PyObject *v = SLOT(obj, off);
    if (v == NULL)
        PyErr_SetString(PyExc_AttributeError, name);
    return v;
}

static PyObject *struct_error;  /* struct.error: what the Python forms' unpack raises */

/*
 * The cached page (bytes) holding [a, a + size) as a new reference, or NULL:
 * with *error set when an exception is pending.  ``pages_attr`` is a program's
 * page cache, {virtual page number: bytes}, or None.
 */
static PyObject *
cached_page(PyObject *pages_attr, unsigned long long a, Py_ssize_t size, int *error)
{
    *error = 0;
    if (pages_attr == NULL || pages_attr == Py_None
        || (a & PAGE_MASK) > PAGE_SIZE - (unsigned long long)size)
        return NULL;
    /* Our own references: a lookup can run a key's __eq__, which could drop the dict. */
    PyObject *pages = Py_NewRef(pages_attr), *page = NULL;
    PyObject *key = FROM_ULL(a >> 12);
    if (key != NULL) {
        page = PyDict_GetItemWithError(pages, key);
        Py_XINCREF(page);
        Py_DECREF(key);
    }
    Py_DECREF(pages);
    if (page == NULL) {
        *error = PyErr_Occurred() != NULL;
        return NULL;
    }
    if (!PyBytes_Check(page) || PyBytes_GET_SIZE(page) != (Py_ssize_t)PAGE_SIZE) {
        Py_DECREF(page);
        return NULL;
    }
    return page;
}

static int
slot_offset(PyObject *descr, const char *name, Py_ssize_t *out)
{
    if (!Py_IS_TYPE(descr, &PyMemberDescr_Type)) {
        PyErr_Format(PyExc_TypeError, "Object.%s is not a slot", name);
        return -1;
    }
    PyMemberDef *m = ((PyMemberDescrObject *)descr)->d_member;
    if (m->type != Py_T_OBJECT_EX || (m->flags & Py_READONLY)) {
        PyErr_Format(PyExc_TypeError, "Object.%s is not a writable object slot", name);
        return -1;
    }
    *out = m->offset;
    return 0;
}

static PyObject *
bind_object(PyObject *module, PyObject *cls)
{
    static const char *names[] = {"prog_", "type_", "address_", "_value"};
    Py_ssize_t offs[4];
    if (!PyType_Check(cls)) {
        PyErr_SetString(PyExc_TypeError, "bind_object() takes the Object class");
        return NULL;
    }
    if (object_base != NULL) {
        /* Objects made for the bound class would be written at other offsets. */
        if ((PyObject *)object_base == cls)
            Py_RETURN_NONE;
        PyErr_SetString(PyExc_RuntimeError, "bind_object() was already called for another class");
        return NULL;
    }
    for (int i = 0; i < 4; i++) {
        PyObject *d = PyDict_GetItemString(((PyTypeObject *)cls)->tp_dict, names[i]);
        if (d == NULL) {
            PyErr_Format(PyExc_TypeError, "Object has no slot %s", names[i]);
            return NULL;
        }
        if (slot_offset(d, names[i], &offs[i]) < 0)
            return NULL;
        /* A slot of another class would give offsets outside this one's instances. */
        if (((PyDescrObject *)d)->d_type != (PyTypeObject *)cls) {
            PyErr_Format(PyExc_TypeError, "Object.%s is not a slot of Object itself", names[i]);
            return NULL;
        }
    }
    Py_INCREF(cls);
    Py_XSETREF(object_base, (PyTypeObject *)cls);
    off_prog = offs[0];
    off_type = offs[1];
    off_address = offs[2];
    off_value = offs[3];
    Py_RETURN_NONE;
}

/* -- lighter objects: the classes vmintro.object makes per type ----------------------- */

/*
 * Objects are made and dropped by the million in a walk; what CPython does for any class
 * (subtype_dealloc: finalizers, weak references, a __dict__, every base's slots) is more
 * than an instance of a class made by vmintro.object needs: four slots and its class.
 * light_class(cls) gives such a class a tp_dealloc that does just that, and keeps the
 * memory of up to FREE_OBJECTS dropped objects for the next ones (as CPython keeps
 * tuples and floats).  A subclass of it (a caller's class) keeps CPython's own
 * tp_dealloc, which does its part and then calls this one, as it calls any base's.
 */
#define FREE_OBJECTS 256
typedef struct {
    PyObject *items[FREE_OBJECTS];
    int n;
    Py_ssize_t size;  /* the tp_basicsize of the objects kept */
    int fresh;        /* their dealloc left them as they read when zeroed: no memset */
} FreeList;
static FreeList free_objects;

/* A class whose objects hold nothing in front of their GC header (no managed __dict__
 * or weak references, which CPython 3.11+ keeps there and tp_free gives back with them):
 * the memory of one such object fits any other of the same size. */
static int
no_preheader(PyTypeObject *tp)
{
#ifdef Py_TPFLAGS_MANAGED_DICT
    if (tp->tp_flags & Py_TPFLAGS_MANAGED_DICT)
        return 0;
#endif
#ifdef Py_TPFLAGS_MANAGED_WEAKREF
    if (tp->tp_flags & Py_TPFLAGS_MANAGED_WEAKREF)
        return 0;
#endif
    return tp->tp_dictoffset == 0 && tp->tp_weaklistoffset == 0;
}

/* A heap class of ``size``-byte objects with nothing in front of them and nothing to do
 * when they go (no finalizer, no __del__), allocated and freed as CPython does for any:
 * whose objects' memory a light class may keep and hand out again. */
static int
plain_class(PyTypeObject *tp, Py_ssize_t size)
{
    return (tp->tp_flags & Py_TPFLAGS_HEAPTYPE) && tp->tp_basicsize == size
           && tp->tp_itemsize == 0 && no_preheader(tp) && tp->tp_finalize == NULL
           && tp->tp_del == NULL && PyDict_GetItemString(tp->tp_dict, "__del__") == NULL
           && tp->tp_free == PyObject_GC_Del && tp->tp_alloc == PyType_GenericAlloc
           && (tp->tp_flags & Py_TPFLAGS_HAVE_GC);
}

/* The end of a light class's tp_dealloc (``own``), once the object is untracked and
 * its references cleared: its memory kept in ``list`` where it is an object of the light
 * class itself (a subclass's, which CPython's subtype_dealloc hands to this one, may have
 * been allocated with more in front of it), else freed; its class's reference dropped. */
static void
light_free(PyObject *self, destructor own, FreeList *list)
{
    PyTypeObject *tp = Py_TYPE(self);
    if (tp->tp_dealloc == own && list->n < FREE_OBJECTS)
        list->items[list->n++] = self;  /* untracked, its references cleared */
    else
        tp->tp_free(self);
    Py_DECREF(tp);
}

/* A light class's tp_alloc: an object out of ``list``, made as PyType_GenericAlloc makes
 * one: zeroed, of tp (a reference to it where it is a heap type), one reference
 * (PyObject_Init counts it as a new object where the build counts them), tracked. */
static inline PyObject *
light_take(PyTypeObject *tp, Py_ssize_t nitems, FreeList *list)
{
    if (nitems != 0 || list->n == 0 || tp->tp_basicsize != list->size || tp->tp_itemsize != 0)
        return PyType_GenericAlloc(tp, nitems);
    PyObject *obj = list->items[--list->n];
    if (!list->fresh)
        memset((char *)obj + sizeof(PyObject), 0, (size_t)tp->tp_basicsize - sizeof(PyObject));
#if PY_VERSION_HEX < 0x030D0000
    /* PyObject_Init's work in line, 1 to 2 ns of a 38 ns virt_to_page: the class (a heap
     * type, as any class that has light_alloc is: light_class takes no other, and a
     * static type cannot derive from one), one reference, counted as a new object */
    Py_SET_TYPE(obj, tp);
    Py_INCREF(tp);
    _Py_NewReference(obj);
#else
    PyObject_Init(obj, tp);
#endif
    PyObject_GC_Track(obj);
    return obj;
}

static void
light_dealloc(PyObject *self)
{
    PyObject_GC_UnTrack(self);
    Py_CLEAR(SLOT(self, off_prog));
    Py_CLEAR(SLOT(self, off_type));
    Py_CLEAR(SLOT(self, off_address));
    PyObject *value = SLOT(self, off_value);
    SLOT(self, off_value) = NULL;
    if (value != NULL && !int_keep(value))
        Py_DECREF(value);
    light_free(self, light_dealloc, &free_objects);
}

static PyObject *
light_alloc(PyTypeObject *tp, Py_ssize_t nitems)
{
    return light_take(tp, nitems, &free_objects);
}

/* A new instance of ``cls`` with its four slots set (references are taken). */
static PyObject *
new_object(PyTypeObject *cls, PyObject *prog, PyObject *ctype, PyObject *address, PyObject *value)
{
    /* a light class's own allocation called directly, not through the class */
    PyObject *obj = cls->tp_alloc == light_alloc ? light_take(cls, 0, &free_objects)
                                                 : cls->tp_alloc(cls, 0);
    if (obj == NULL)
        return NULL;
    Py_INCREF(prog);
    SLOT(obj, off_prog) = prog;
    Py_INCREF(ctype);
    SLOT(obj, off_type) = ctype;
    Py_INCREF(address);
    SLOT(obj, off_address) = address;
    Py_INCREF(value);
    SLOT(obj, off_value) = value;
    return obj;
}

static PyObject *
light_class(PyObject *module, PyObject *cls)
{
    if (object_base == NULL) {
        PyErr_SetString(PyExc_RuntimeError, "vmintro._speedups: bind_object() was not called");
        return NULL;
    }
    if (!PyType_Check(cls) || !PyType_IsSubtype((PyTypeObject *)cls, object_base)) {
        PyErr_SetString(PyExc_TypeError, "light_class() takes a class of Object");
        return NULL;
    }
    PyTypeObject *tp = (PyTypeObject *)cls;
    /* only what the generated classes are: heap types of Object's layout, nothing added */
    if (!plain_class(tp, object_base->tp_basicsize)) {
        PyErr_SetString(PyExc_TypeError,
                        "light_class(): a class with Object's slots and nothing more");
        return NULL;
    }
    if (LIGHT_CLASSES) {
        free_objects.size = object_base->tp_basicsize;
        /* an Object is its header and the four slots light_dealloc sets to NULL */
        free_objects.fresh = free_objects.size == (Py_ssize_t)(sizeof(PyObject) + 4 * sizeof(PyObject *))
                               && off_prog >= (Py_ssize_t)sizeof(PyObject)
                               && off_type >= (Py_ssize_t)sizeof(PyObject)
                               && off_address >= (Py_ssize_t)sizeof(PyObject)
                               && off_value >= (Py_ssize_t)sizeof(PyObject);
        tp->tp_dealloc = light_dealloc;
        tp->tp_alloc = light_alloc;
    }
    Py_RETURN_NONE;
}

/* -- member: ``area.addr`` ------------------------------------------------------------- */

typedef struct {
    PyObject_HEAD
    PyObject *name;     /* the member's name, for member_() */
    PyObject *prog;
    PyObject *ctype;    /* the member's type */
    PyObject *offset;   /* int */
    PyObject *resolve;  /* () -> the member's class, called once */
    PyObject *cls;      /* NULL until resolved */
    PyObject *doc;
    int via_pointer;
} MemberObject;

static int
member_init(MemberObject *self, PyObject *args, PyObject *kwds)
{
    static char *kwlist[] = {"name", "prog", "ctype", "offset", "resolve", "via_pointer", NULL};
    PyObject *name, *prog, *ctype, *offset, *resolve;
    int via_pointer;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "UOOO!Op", kwlist, &name, &prog, &ctype,
                                     &PyLong_Type, &offset, &resolve, &via_pointer))
        return -1;
    Py_INCREF(name);
    Py_XSETREF(self->name, name);
    Py_INCREF(prog);
    Py_XSETREF(self->prog, prog);
    Py_INCREF(ctype);
    Py_XSETREF(self->ctype, ctype);
    Py_INCREF(offset);
    Py_XSETREF(self->offset, offset);
    Py_INCREF(resolve);
    Py_XSETREF(self->resolve, resolve);
    Py_CLEAR(self->cls);
    self->via_pointer = via_pointer;
    return 0;
}

/* The member's class (a new reference), resolved on first use. */
static PyTypeObject *
member_class(MemberObject *self)
{
    if (self->cls == NULL) {
        PyObject *resolve = Py_NewRef(self->resolve);
        PyObject *cls = PyObject_CallNoArgs(resolve);
        Py_DECREF(resolve);
        if (cls == NULL)
            return NULL;
        if (!PyType_Check(cls) || !PyType_IsSubtype((PyTypeObject *)cls, object_base)) {
            Py_DECREF(cls);
            PyErr_SetString(PyExc_TypeError, "a member's class must be an Object class");
            return NULL;
        }
        Py_XSETREF(self->cls, cls);  /* resolve() may have re-entered and set it */
    }
    return (PyTypeObject *)Py_NewRef(self->cls);
}

static PyObject *
member_get(MemberObject *self, PyObject *obj, PyObject *type)
{
    if (obj == NULL || obj == Py_None) {
        Py_INCREF(self);
        return (PyObject *)self;
    }
    if (check_object(obj) < 0)
        return NULL;
    if (self->resolve == NULL) {
        PyErr_SetString(PyExc_RuntimeError, "Member was not initialised");
        return NULL;
    }
    PyObject *base;
    if (self->via_pointer) {
        base = get_slot(obj, off_value, "_value");
        if (base == NULL)
            return NULL;
        if (base == Py_None)  /* a pointer variable: read it */
            base = PyObject_CallMethodNoArgs(obj, str_int);
        else
            Py_INCREF(base);
    }
    else {
        base = get_slot(obj, off_address, "address_");
        if (base == NULL)
            return NULL;
        if (base == Py_None) {  /* a struct value: member_() slices its bytes */
            PyObject *name = Py_NewRef(self->name);
            PyObject *member = PyObject_CallMethodOneArg(obj, str_member, name);
            Py_DECREF(name);
            return member;
        }
        Py_INCREF(base);
    }
    if (base == NULL)
        return NULL;
    /* Our own references: the calls below may run Python that re-initialises self. */
    PyObject *prog = Py_NewRef(self->prog), *ctype = Py_NewRef(self->ctype);
    PyObject *offset = Py_NewRef(self->offset), *address = NULL, *member = NULL;
    PyTypeObject *cls = member_class(self);
    if (cls != NULL)
        address = PyNumber_Add(base, offset);
    if (address != NULL)
        member = new_object(cls, prog, ctype, address, Py_None);
    Py_XDECREF(address);
    Py_XDECREF(cls);
    Py_DECREF(offset);
    Py_DECREF(ctype);
    Py_DECREF(prog);
    Py_DECREF(base);
    return member;
}

static int
member_set(MemberObject *self, PyObject *obj, PyObject *value)
{
    /* as a property without setter or deleter says it */
    const char *what = value == NULL ? "deleter" : "setter";
    if (self->name == NULL)
        PyErr_Format(PyExc_AttributeError, "member has no %s", what);
    else
        PyErr_Format(PyExc_AttributeError, "property %R of '%s' object has no %s", self->name,
                     Py_TYPE(obj)->tp_name, what);
    return -1;
}

static int
member_traverse(MemberObject *self, visitproc visit, void *arg)
{
    Py_VISIT(self->name);
    Py_VISIT(self->prog);
    Py_VISIT(self->ctype);
    Py_VISIT(self->offset);
    Py_VISIT(self->resolve);
    Py_VISIT(self->cls);
    Py_VISIT(self->doc);
    return 0;
}

static int
member_clear(MemberObject *self)
{
    Py_CLEAR(self->name);
    Py_CLEAR(self->prog);
    Py_CLEAR(self->ctype);
    Py_CLEAR(self->offset);
    Py_CLEAR(self->resolve);
    Py_CLEAR(self->cls);
    Py_CLEAR(self->doc);
    return 0;
}

static void
member_dealloc(MemberObject *self)
{
    PyObject_GC_UnTrack(self);
    member_clear(self);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyMemberDef member_members[] = {
    {"__doc__", Py_T_OBJECT_EX, offsetof(MemberObject, doc), 0, NULL},
    {"name", Py_T_OBJECT_EX, offsetof(MemberObject, name), Py_READONLY, NULL},
    {NULL},
};

static PyTypeObject MemberType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "vmintro._speedups.Member",
    .tp_basicsize = sizeof(MemberObject),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC,
    .tp_doc = "A struct member as an attribute of its struct's Object class.",
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)member_init,
    .tp_dealloc = (destructor)member_dealloc,
    .tp_traverse = (traverseproc)member_traverse,
    .tp_clear = (inquiry)member_clear,
    .tp_descr_get = (descrgetfunc)member_get,
    .tp_descr_set = (descrsetfunc)member_set,
    .tp_members = member_members,
};

/* -- scalar value: ``obj.value_()`` -------------------------------------------------- */

typedef struct {
    PyObject_HEAD
    vectorcallfunc vectorcall;
    PyObject *prog;   /* whose read(address, size) reads what the cache does not hold */
    PyObject *pages;  /* the program's page cache: {page number: bytes}, or None */
    PyObject *doc;
    Py_ssize_t size;  /* 1, 2, 4 or 8 */
    int is_signed;
} ScalarObject;

/* The little-endian unsigned number of ``size`` bytes at ``p`` (the kernel's memory). */
static unsigned long long
read_le(const unsigned char *p, Py_ssize_t size)
{
    unsigned long long v = 0;
    for (Py_ssize_t i = size - 1; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}

static PyObject *
decode(const unsigned char *p, Py_ssize_t size, int is_signed)
{
    unsigned long long v = read_le(p, size);
    if (is_signed) {
        unsigned long long sign = 1ULL << (8 * size - 1);
        return FROM_LL((long long)((v ^ sign) - sign));
    }
    return FROM_ULL(v);
}

/* value_ by prog.read(address, size): pages not cached, page-crossing or odd addresses. */
static PyObject *
scalar_read(ScalarObject *self, PyObject *address)
{
    PyObject *size = PyLong_FromSsize_t(self->size);
    if (size == NULL)
        return NULL;
    /* Our own references: read() is Python, and may change the object or self. */
    PyObject *args[] = {Py_NewRef(self->prog), Py_NewRef(address), size};
    PyObject *data = PyObject_VectorcallMethod(str_read, args, 3, NULL);
    for (int i = 0; i < 3; i++)
        Py_DECREF(args[i]);
    if (data == NULL)
        return NULL;
    Py_buffer view;
    if (PyObject_GetBuffer(data, &view, PyBUF_SIMPLE) < 0) {
        Py_DECREF(data);
        return NULL;
    }
    PyObject *result;
    if (view.len != self->size) {
        PyErr_Format(struct_error, "unpack requires a buffer of %zd bytes", self->size);
        result = NULL;
    }
    else {
        result = decode(view.buf, self->size, self->is_signed);
    }
    PyBuffer_Release(&view);
    Py_DECREF(data);
    return result;
}

static PyObject *
scalar_call(ScalarObject *self, PyObject *const *args, size_t nargsf, PyObject *kwnames)
{
    Py_ssize_t nargs = PyVectorcall_NARGS(nargsf);
    if (kwnames != NULL && PyTuple_GET_SIZE(kwnames) > 0) {
        PyErr_SetString(PyExc_TypeError, "value_() takes no keyword arguments");
        return NULL;
    }
    if (nargs != 1) {
        if (nargs == 0)
            PyErr_SetString(PyExc_TypeError, "value_() needs the Object it reads");
        else
            PyErr_Format(PyExc_TypeError, "value_() takes no arguments (%zd given)", nargs - 1);
        return NULL;
    }
    PyObject *obj = args[0];
    if (check_object(obj) < 0)
        return NULL;
    if (self->prog == NULL) {
        PyErr_SetString(PyExc_RuntimeError, "ScalarValue was not initialised");
        return NULL;
    }
    PyObject *value = get_slot(obj, off_value, "_value");
    if (value == NULL)
        return NULL;
    if (value != Py_None) {  /* a scalar's value is an int */
        Py_INCREF(value);
        return value;
    }
    PyObject *address = get_slot(obj, off_address, "address_");
    if (address == NULL)
        return NULL;
    if (!PyLong_Check(address))  /* a numpy integer, or nonsense: read() decides */
        return scalar_read(self, address);
    unsigned long long a = AS_ULL(address);
    if (a == (unsigned long long)-1 && PyErr_Occurred()) {
        PyErr_Clear();  /* negative or huge: read() says what is wrong with it */
        return scalar_read(self, address);
    }
    int error;
    PyObject *page = cached_page(self->pages, a, self->size, &error);
    if (error)
        return NULL;
    if (page == NULL)
        return scalar_read(self, address);
    PyObject *result = decode((const unsigned char *)PyBytes_AS_STRING(page) + (a & PAGE_MASK),
                              self->size, self->is_signed);
    Py_DECREF(page);
    return result;
}

static int
scalar_init(ScalarObject *self, PyObject *args, PyObject *kwds)
{
    static char *kwlist[] = {"prog", "pages", "size", "signed", NULL};
    PyObject *prog, *pages;
    Py_ssize_t size;
    int is_signed;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "OOnp", kwlist, &prog, &pages, &size,
                                     &is_signed))
        return -1;
    if (size != 1 && size != 2 && size != 4 && size != 8) {
        PyErr_Format(PyExc_ValueError, "a scalar is 1, 2, 4 or 8 bytes, not %zd", size);
        return -1;
    }
    if (pages != Py_None && !PyDict_Check(pages)) {
        PyErr_SetString(PyExc_TypeError, "pages must be a dict or None");
        return -1;
    }
    Py_INCREF(pages);
    Py_XSETREF(self->pages, pages);
    Py_INCREF(prog);
    Py_XSETREF(self->prog, prog);
    self->size = size;
    self->is_signed = is_signed;
    self->vectorcall = (vectorcallfunc)scalar_call;
    return 0;
}

static PyObject *
scalar_new(PyTypeObject *type, PyObject *args, PyObject *kwds)
{
    ScalarObject *self = (ScalarObject *)PyType_GenericNew(type, args, kwds);
    if (self == NULL)
        return NULL;
    Py_INCREF(Py_None);
    self->pages = Py_None;
    self->vectorcall = (vectorcallfunc)scalar_call;
    self->size = 4;
    return (PyObject *)self;
}

static PyObject *
scalar_get(PyObject *self, PyObject *obj, PyObject *type)
{
    if (obj == NULL || obj == Py_None) {
        Py_INCREF(self);
        return self;
    }
    return PyMethod_New(self, obj);
}

static int
scalar_traverse(ScalarObject *self, visitproc visit, void *arg)
{
    Py_VISIT(self->prog);
    Py_VISIT(self->pages);
    Py_VISIT(self->doc);
    return 0;
}

static int
scalar_clear(ScalarObject *self)
{
    Py_CLEAR(self->prog);  /* first: a call that finds it gone reads nothing */
    Py_CLEAR(self->pages);
    Py_CLEAR(self->doc);
    return 0;
}

static void
scalar_dealloc(ScalarObject *self)
{
    PyObject_GC_UnTrack(self);
    scalar_clear(self);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyMemberDef scalar_members[] = {
    {"__doc__", Py_T_OBJECT_EX, offsetof(ScalarObject, doc), 0, NULL},
    {NULL},
};

/* __name__ and __qualname__ of a C form: the Python method it stands for (``closure``). */
static PyObject *
fixed_name(PyObject *self, void *closure)
{
    return PyUnicode_FromString((const char *)closure);
}

static PyGetSetDef scalar_getset[] = {
    {"__name__", fixed_name, NULL, NULL, (void *)"value_"},
    {"__qualname__", fixed_name, NULL, NULL, (void *)"Object.value_"},
    {NULL},
};

static PyTypeObject ScalarType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "vmintro._speedups.ScalarValue",
    .tp_basicsize = sizeof(ScalarObject),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC | Py_TPFLAGS_HAVE_VECTORCALL
                | Py_TPFLAGS_METHOD_DESCRIPTOR,
    .tp_doc = "value_() of a scalar Object class: the int its bytes hold.",
    .tp_new = scalar_new,
    .tp_init = (initproc)scalar_init,
    .tp_dealloc = (destructor)scalar_dealloc,
    .tp_traverse = (traverseproc)scalar_traverse,
    .tp_clear = (inquiry)scalar_clear,
    .tp_call = PyVectorcall_Call,
    .tp_vectorcall_offset = offsetof(ScalarObject, vectorcall),
    .tp_descr_get = scalar_get,
    .tp_members = scalar_members,
    .tp_getset = scalar_getset,
};


/* -- node walk: a NULL-terminated singly linked list ---------------------------------- */

/* The nodes seen so far: open addressing over non-zero 64-bit keys (a walk stops at 0). */
typedef struct {
    unsigned long long *keys;
    size_t mask;  /* capacity - 1, a power of two less one */
    size_t used;
} NodeSet;

static size_t
node_hash(unsigned long long key)
{
    key ^= key >> 33;
    key *= 0xff51afd7ed558ccdULL;
    key ^= key >> 33;
    return (size_t)key;
}

/* 1 when key was already there, 0 when it was added, -1 with MemoryError. */
static int
nodeset_add(NodeSet *set, unsigned long long key)
{
    if (2 * (set->used + 1) > set->mask + 1) {
        size_t capacity = set->keys == NULL ? 64 : 2 * (set->mask + 1);
        unsigned long long *keys = PyMem_Calloc(capacity, sizeof(*keys));
        if (keys == NULL) {
            PyErr_NoMemory();
            return -1;
        }
        for (size_t i = 0; set->keys != NULL && i <= set->mask; i++) {
            unsigned long long k = set->keys[i];
            if (k != 0) {
                size_t j = node_hash(k) & (capacity - 1);
                while (keys[j] != 0)
                    j = (j + 1) & (capacity - 1);
                keys[j] = k;
            }
        }
        PyMem_Free(set->keys);
        set->keys = keys;
        set->mask = capacity - 1;
    }
    size_t i = node_hash(key) & set->mask;
    while (set->keys[i] != 0) {
        if (set->keys[i] == key)
            return 1;
        i = (i + 1) & set->mask;
    }
    set->keys[i] = key;
    set->used++;
    return 0;
}

enum { WALK_CYCLE = 0, WALK_BOUND = 1, WALK_UNREADABLE = 2 };

typedef struct {
    PyObject_HEAD
    PyObject *prog;   /* whose read_u32(address) reads links the page cache does not hold */
    PyObject *pages;  /* the program's page cache: {page number: bytes}, or None */
    PyObject *fault;  /* the exception class read_u32 raises for an unreadable address */
    PyObject *fail;   /* fail(kind, holder, node): raises the walk's error */
    PyObject *cls;    /* with ctype: yield Objects of prog holding each node, or */
    PyObject *ctype;  /* None: yield the nodes' addresses */
    NodeSet seen;
    unsigned long long node, holder, next_offset, bound;
    int has_holder, done;
} WalkObject;

/* ``value`` as an unsigned 64-bit number: an error for a negative or larger one. */
static int
as_u64(PyObject *value, const char *what, unsigned long long *out)
{
    if (!PyLong_Check(value)) {
        PyErr_Format(PyExc_TypeError, "%s must be an int", what);
        return -1;
    }
    *out = AS_ULL(value);
    return *out == (unsigned long long)-1 && PyErr_Occurred() ? -1 : 0;
}

static int
walk_init(WalkObject *self, PyObject *args, PyObject *kwds)
{
    static char *kwlist[] = {"first", "next_offset", "bound", "prog", "pages", "fault",
                             "fail", "cls", "ctype", NULL};
    unsigned long long first, next_offset, bound;
    PyObject *first_o, *offset_o, *bound_o, *prog, *pages, *fault, *fail, *cls = Py_None,
             *ctype = Py_None;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "OOOOOOO|OO", kwlist, &first_o, &offset_o,
                                     &bound_o, &prog, &pages, &fault, &fail, &cls, &ctype))
        return -1;
    if (as_u64(first_o, "first", &first) < 0 || as_u64(offset_o, "next_offset", &next_offset) < 0
        || as_u64(bound_o, "bound", &bound) < 0)
        return -1;
    if (first >> 32 || next_offset >> 32) {
        PyErr_SetString(PyExc_ValueError, "first and next_offset must fit in 32 bits");
        return -1;
    }
    if (pages != Py_None && !PyDict_Check(pages)) {
        PyErr_SetString(PyExc_TypeError, "pages must be a dict or None");
        return -1;
    }
    if (!PyExceptionClass_Check(fault)) {
        PyErr_SetString(PyExc_TypeError, "fault must be an exception class");
        return -1;
    }
    if (cls != Py_None && (object_base == NULL || !PyType_Check(cls)
                           || !PyType_IsSubtype((PyTypeObject *)cls, object_base))) {
        PyErr_SetString(PyExc_TypeError, "cls must be an Object class or None");
        return -1;
    }
    PyObject *refs[] = {prog, pages, fault, fail, cls, ctype};
    PyObject **slots[] = {&self->prog, &self->pages, &self->fault, &self->fail, &self->cls,
                          &self->ctype};
    for (int i = 0; i < 6; i++) {
        Py_INCREF(refs[i]);
        Py_XSETREF(*slots[i], refs[i]);
    }
    PyMem_Free(self->seen.keys);
    self->seen = (NodeSet){NULL, 0, 0};
    self->node = first;
    self->next_offset = next_offset;
    self->bound = bound;
    self->has_holder = 0;
    self->done = 0;
    return 0;
}

static PyObject *
walk_fail(WalkObject *self, int kind)
{
    self->done = 1;
    PyObject *holder = self->has_holder ? FROM_ULL(self->holder)
                                        : Py_NewRef(Py_None);
    PyObject *node = FROM_ULL(self->node);
    PyObject *result = NULL, *fail = Py_NewRef(self->fail);
    if (holder != NULL && node != NULL)
        result = PyObject_CallFunction(fail, "iOO", kind, holder, node);
    Py_DECREF(fail);
    Py_XDECREF(holder);
    Py_XDECREF(node);
    if (result != NULL) {
        Py_DECREF(result);
        PyErr_SetString(PyExc_RuntimeError, "the walk's fail() returned instead of raising");
    }
    return NULL;
}

/* The 32-bit link at ``address``: 0 with *ok = 0 when it cannot be read. */
static unsigned long long
walk_read_link(WalkObject *self, unsigned long long address, int *ok)
{
    *ok = 1;
    int error;
    PyObject *page = cached_page(self->pages, address, 4, &error);
    if (error)
        goto error;
    if (page != NULL) {
        unsigned long long link =
            read_le((const unsigned char *)PyBytes_AS_STRING(page) + (address & PAGE_MASK), 4);
        Py_DECREF(page);
        return link;
    }
    PyObject *addr = FROM_ULL(address);
    if (addr == NULL)
        goto error;
    /* Our own references: read_u32 is Python, and may re-initialise self. */
    PyObject *fault = Py_NewRef(self->fault);
    PyObject *call[] = {Py_NewRef(self->prog), addr};
    PyObject *value = PyObject_VectorcallMethod(str_read_u32, call, 2, NULL);
    Py_DECREF(call[0]);
    Py_DECREF(addr);
    if (value == NULL) {
        int matches = PyErr_ExceptionMatches(fault);
        Py_DECREF(fault);
        if (matches) {
            PyErr_Clear();
            *ok = 0;
            return 0;
        }
        goto error;
    }
    Py_DECREF(fault);
    unsigned long long link = AS_ULL(value);
    Py_DECREF(value);
    if (link == (unsigned long long)-1 && PyErr_Occurred())
        goto error;
    return link;
error:
    *ok = -1;
    return 0;
}

static PyObject *
walk_next(WalkObject *self)
{
    if (self->prog == NULL) {
        PyErr_SetString(PyExc_RuntimeError, "NodeWalk was not initialised");
        return NULL;
    }
    if (self->done || self->node == 0) {
        self->done = 1;
        return NULL;
    }
    unsigned long long node = self->node;
    int dup = nodeset_add(&self->seen, node);
    if (dup < 0)
        return NULL;
    if (dup)
        return walk_fail(self, WALK_CYCLE);
    if (self->seen.used - 1 >= self->bound)  /* the nodes before this one */
        return walk_fail(self, WALK_BOUND);
    int ok;
    unsigned long long next = walk_read_link(self, node + self->next_offset, &ok);
    if (ok < 0) {
        self->done = 1;
        return NULL;
    }
    if (ok == 0)
        return walk_fail(self, WALK_UNREADABLE);
    PyObject *value = FROM_ULL(node);
    if (value == NULL)
        return NULL;
    self->holder = node;
    self->has_holder = 1;
    self->node = next;
    if (self->cls == Py_None)
        return value;
    PyObject *obj = new_object((PyTypeObject *)self->cls, self->prog, self->ctype, Py_None, value);
    Py_DECREF(value);
    return obj;
}

static int
walk_traverse(WalkObject *self, visitproc visit, void *arg)
{
    Py_VISIT(self->prog);
    Py_VISIT(self->pages);
    Py_VISIT(self->fault);
    Py_VISIT(self->fail);
    Py_VISIT(self->cls);
    Py_VISIT(self->ctype);
    return 0;
}

static int
walk_clear(WalkObject *self)
{
    Py_CLEAR(self->prog);  /* first: a call that finds it gone reads nothing */
    Py_CLEAR(self->pages);
    Py_CLEAR(self->fault);
    Py_CLEAR(self->fail);
    Py_CLEAR(self->cls);
    Py_CLEAR(self->ctype);
    return 0;
}

static void
walk_dealloc(WalkObject *self)
{
    PyObject_GC_UnTrack(self);
    walk_clear(self);
    PyMem_Free(self->seen.keys);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyTypeObject WalkType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "vmintro._speedups.NodeWalk",
    .tp_basicsize = sizeof(WalkObject),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC,
    .tp_doc = "The nodes of a NULL-terminated list, as helpers.list.singly_linked walks it.",
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)walk_init,
    .tp_dealloc = (destructor)walk_dealloc,
    .tp_traverse = (traverseproc)walk_traverse,
    .tp_clear = (inquiry)walk_clear,
    .tp_iter = PyObject_SelfIter,
    .tp_iternext = (iternextfunc)walk_next,
};

/* -- translate: ``prog.translate(vaddr)`` --------------------------------------------- */

/*
 * The paths of TranslationCache.translate (vmintro.pagewalk) that need no walk: the
 * direct map, a TLB hit, and a page of a span whose pte table the cache already
 * holds (filling the TLB as TranslationCache.remember does).  Everything else,
 * faults included, goes to that Python method, which is what this does, walk and
 * all.  Made from the cache: Translator(cache) reads the attributes its docstring
 * lists, once.
 */
/* Slots of the Translator's memory of answers: a power of two, one slot per virtual page
 * of a 128 MiB window, so a pass over every page of the vmalloc range (VMALLOC_RESERVE is
 * 128 MiB) finds each page's answer where it left it.  Allocated on first use (512 KiB,
 * zeroed) and dropped by flush(). */
#define TRANSLATOR_SEEN 32768

typedef struct {
    PyObject_HEAD
    vectorcallfunc vectorcall;
    PyObject *tlb;       /* virtual page -> physical - virtual (TranslationCache.tlb) */
    PyObject *spans;     /* vaddr >> span_shift -> that span's pte entries (.spans) */
    PyObject *fallback;  /* TranslationCache.translate, bound to the cache */
    PyObject *doc;
    unsigned long long lowmem_start, lowmem_end, phys_mask, span_mask, present;
    Py_ssize_t tlb_max, entry_size;
    int page_shift, span_shift;
    /* What the TLB answered last, direct-mapped by virtual page: an answer without
     * making an int key or a dict lookup; NULL until the first answer.  Translations of
     * a memory that does not change stay true; the cache's clear() calls flush() (it is
     * on cache.on_clear). */
    struct seen_slot { unsigned long long page_plus1; long long delta; } *seen;
} TranslatorObject;

/* Remember an answer of the TLB in the slot of its page; nothing where no memory can be had
 * (the next call asks the TLB again). */
static void
translator_remember(TranslatorObject *self, size_t slot, unsigned long long vpn, long long delta)
{
    if (self->seen == NULL) {
        self->seen = PyMem_Calloc(TRANSLATOR_SEEN, sizeof(*self->seen));
        if (self->seen == NULL)
            return;
    }
    self->seen[slot].page_plus1 = vpn + 1;
    self->seen[slot].delta = delta;
}

static PyObject *
translator_fallback(TranslatorObject *self, PyObject *vaddr)
{
    PyObject *fallback = Py_NewRef(self->fallback);
    PyObject *result = PyObject_CallOneArg(fallback, vaddr);
    Py_DECREF(fallback);
    return result;
}

/*
 * Entry ``index`` of a decoded table held in ``dict`` under ``key`` (an ``array`` of
 * unsigned ``entry_size``-byte entries in the machine's byte order: the walker
 * swaps them): 1 with *entry set, 0 when no such table is held (or it is not such
 * an array: the Python form then decides), -1 with an exception.  Steals ``key``.
 */
static int
held_entry(PyObject *dict, PyObject *key, unsigned long long index, Py_ssize_t entry_size,
           unsigned long long *entry)
{
    if (key == NULL)
        return -1;
    PyObject *table = PyDict_GetItemWithError(dict, key);
    Py_XINCREF(table);
    Py_DECREF(key);
    if (table == NULL)
        return PyErr_Occurred() ? -1 : 0;
    Py_buffer view;
    if (PyObject_GetBuffer(table, &view, PyBUF_FORMAT | PyBUF_ND) < 0) {
        PyErr_Clear();
        Py_DECREF(table);
        return 0;
    }
    int rc = 0;
    Py_ssize_t at = (Py_ssize_t)index * entry_size;
    const char *format = view.format == NULL ? "B" : view.format;
    int unsigned_code = format[0] != '\0' && strchr("ILQ", format[0]) != NULL && format[1] == '\0';
    if (view.itemsize == entry_size && unsigned_code && at + entry_size <= view.len) {
        if (entry_size == 4) {
            uint32_t e;
            memcpy(&e, (const char *)view.buf + at, 4);
            *entry = e;
        }
        else {
            uint64_t e;
            memcpy(&e, (const char *)view.buf + at, 8);
            *entry = e;
        }
        rc = 1;
    }
    PyBuffer_Release(&view);
    Py_DECREF(table);
    return rc;
}

/*
 * The pte entry for ``v`` from ``spans``: -1 when its span's table is not held,
 * or is not an array of unsigned entries of this width (the Python form then
 * decides); -2 with an exception.
 */
static long long
translator_span_entry(TranslatorObject *self, PyObject *spans, unsigned long long v)
{
    unsigned long long entry;
    int rc = held_entry(spans, FROM_ULL(v >> self->span_shift),
                        (v >> self->page_shift) & self->span_mask, self->entry_size, &entry);
    if (rc <= 0)
        return rc < 0 ? -2 : -1;
    return (long long)(entry & 0x7FFFFFFFFFFFFFFFULL);  /* NX is no frame bit */
}

/*
 * The physical address of ``vaddr`` where no walk is needed: 1 with *paddr set, 0
 * when the Python form must decide (a walk, a fault, an argument it takes its own
 * way), -1 with an exception.
 */
static int
translator_paddr(TranslatorObject *self, PyObject *vaddr, unsigned long long *paddr)
{
    if (self->fallback == NULL) {
        PyErr_SetString(PyExc_RuntimeError, "Translator was not initialised");
        return -1;
    }
    unsigned long long v;
    if (!PyLong_CheckExact(vaddr) || !u64_of(vaddr, &v))
        return 0;  /* negative or huge: the Python form says what is wrong */
    if (self->lowmem_start <= v && v < self->lowmem_end) {
        *paddr = v - self->lowmem_start;
        return 1;
    }
    if (v >> 32)
        return 0;
    unsigned long long vpn = v >> self->page_shift;
    size_t slot = (size_t)(vpn & (TRANSLATOR_SEEN - 1));
    if (self->seen != NULL && self->seen[slot].page_plus1 == vpn + 1) {
        *paddr = (unsigned long long)((long long)v + self->seen[slot].delta);
        return 1;
    }
    PyObject *page = FROM_ULL(vpn);
    if (page == NULL)
        return -1;
    /* Our own references: lookups can run Python (a key's __eq__) that drops them. */
    PyObject *tlb = Py_NewRef(self->tlb), *spans = Py_NewRef(self->spans);
    int rc = -1;
    PyObject *delta = PyDict_GetItemWithError(tlb, page);
    if (delta != NULL) {
        rc = 0;  /* a delta of another kind: the Python form adds it */
        if (PyLong_CheckExact(delta)) {
            long long d = AS_LL(delta);
            if (d == -1 && PyErr_Occurred())
                PyErr_Clear();
            else if ((long long)v + d >= 0) {
                *paddr = (unsigned long long)((long long)v + d);
                translator_remember(self, slot, vpn, d);
                rc = 1;
            }
        }
        goto done;
    }
    if (PyErr_Occurred())
        goto done;
    long long entry = translator_span_entry(self, spans, v);
    if (entry == -2)
        goto done;
    if (entry < 0 || !((unsigned long long)entry & self->present)) {
        rc = 0;  /* no pte table held, or not present: walk */
        goto done;
    }
    unsigned long long in_page = (1ULL << self->page_shift) - 1;
    unsigned long long p = ((unsigned long long)entry & self->phys_mask) | (v & in_page);
    if (PyDict_GET_SIZE(tlb) >= self->tlb_max)
        PyDict_Clear(tlb);  /* a flush, as TranslationCache.remember does */
    PyObject *diff = FROM_LL((long long)p - (long long)v);
    if (diff != NULL && PyDict_SetItem(tlb, page, diff) == 0) {
        *paddr = p;
        translator_remember(self, slot, vpn, (long long)p - (long long)v);
        rc = 1;
    }
    Py_XDECREF(diff);
done:
    Py_DECREF(spans);
    Py_DECREF(tlb);
    Py_DECREF(page);
    return rc;
}

static PyObject *
translator_call(TranslatorObject *self, PyObject *const *args, size_t nargsf, PyObject *kwnames)
{
    if (self->fallback == NULL) {
        PyErr_SetString(PyExc_RuntimeError, "Translator was not initialised");
        return NULL;
    }
    if (PyVectorcall_NARGS(nargsf) != 1 || (kwnames != NULL && PyTuple_GET_SIZE(kwnames) > 0)) {
        /* translate(vaddr=...), or a wrong call: as the Python method takes it */
        PyObject *fallback = Py_NewRef(self->fallback);
        PyObject *result = PyObject_Vectorcall(fallback, args, nargsf, kwnames);
        Py_DECREF(fallback);
        return result;
    }
    unsigned long long paddr;
    int rc = translator_paddr(self, args[0], &paddr);
    if (rc < 0)
        return NULL;
    if (rc == 0)
        return translator_fallback(self, args[0]);
    return FROM_ULL(paddr);
}

/* ``cache.name`` as an unsigned 64-bit int; -1 with an exception. */
static int
cache_u64(PyObject *cache, const char *name, unsigned long long *out)
{
    PyObject *value = PyObject_GetAttrString(cache, name);
    if (value == NULL)
        return -1;
    int rc = as_u64(value, name, out);
    Py_DECREF(value);
    return rc;
}

/* ``cache.name``, a dict; a new reference, or NULL with an exception. */
static PyObject *
cache_dict(PyObject *cache, const char *name)
{
    PyObject *value = PyObject_GetAttrString(cache, name);
    if (value != NULL && !PyDict_CheckExact(value)) {
        PyErr_Format(PyExc_TypeError, "%s must be a dict", name);
        Py_CLEAR(value);
    }
    return value;
}

static int
translator_init(TranslatorObject *self, PyObject *args, PyObject *kwds)
{
    static char *kwlist[] = {"cache", NULL};
    PyObject *cache;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "O", kwlist, &cache))
        return -1;
    unsigned long long lowmem_start, lowmem_end, phys_mask, span_mask, present;
    unsigned long long page_shift, span_shift, tlb_max, entry_size;
    if (cache_u64(cache, "lowmem_start", &lowmem_start) < 0
        || cache_u64(cache, "lowmem_end", &lowmem_end) < 0
        || cache_u64(cache, "phys_mask", &phys_mask) < 0
        || cache_u64(cache, "span_mask", &span_mask) < 0
        || cache_u64(cache, "present", &present) < 0
        || cache_u64(cache, "page_shift", &page_shift) < 0
        || cache_u64(cache, "span_shift", &span_shift) < 0
        || cache_u64(cache, "tlb_max", &tlb_max) < 0
        || cache_u64(cache, "entry_size", &entry_size) < 0)
        return -1;
    if ((entry_size != 4 && entry_size != 8) || page_shift < 1 || page_shift > 31
        || span_shift < page_shift || span_shift > 32 || tlb_max > PY_SSIZE_T_MAX) {
        PyErr_SetString(PyExc_ValueError, "bad entry_size, page_shift, span_shift or tlb_max");
        return -1;
    }
    PyObject *tlb = cache_dict(cache, "tlb");
    if (tlb == NULL)
        return -1;
    PyObject *spans = cache_dict(cache, "spans");
    if (spans == NULL) {
        Py_DECREF(tlb);
        return -1;
    }
    PyObject *fallback = PyObject_GetAttrString(cache, "translate");
    if (fallback == NULL) {
        Py_DECREF(tlb);
        Py_DECREF(spans);
        return -1;
    }
    /* the cache's clear() empties what this remembers too */
    PyObject *on_clear = PyObject_GetAttrString(cache, "on_clear");
    PyObject *flush = on_clear == NULL ? NULL : PyObject_GetAttrString((PyObject *)self, "flush");
    if (flush == NULL || !PyList_Check(on_clear) || PyList_Append(on_clear, flush) < 0) {
        if (!PyErr_Occurred())
            PyErr_SetString(PyExc_TypeError, "Translator(cache): cache.on_clear is not a list");
        Py_XDECREF(flush);
        Py_XDECREF(on_clear);
        Py_DECREF(tlb);
        Py_DECREF(spans);
        Py_DECREF(fallback);
        return -1;
    }
    Py_DECREF(flush);
    Py_DECREF(on_clear);
    PyMem_Free(self->seen);
    self->seen = NULL;
    Py_XSETREF(self->tlb, tlb);
    Py_XSETREF(self->spans, spans);
    Py_XSETREF(self->fallback, fallback);
    self->lowmem_start = lowmem_start;
    self->lowmem_end = lowmem_end;
    self->phys_mask = phys_mask;
    self->span_mask = span_mask;
    self->present = present;
    self->page_shift = (int)page_shift;
    self->span_shift = (int)span_shift;
    self->tlb_max = (Py_ssize_t)tlb_max;
    self->entry_size = (Py_ssize_t)entry_size;
    return 0;
}

static PyObject *
translator_new(PyTypeObject *type, PyObject *args, PyObject *kwds)
{
    TranslatorObject *self = (TranslatorObject *)PyType_GenericNew(type, args, kwds);
    if (self != NULL)
        self->vectorcall = (vectorcallfunc)translator_call;
    return (PyObject *)self;
}

static int
translator_traverse(TranslatorObject *self, visitproc visit, void *arg)
{
    Py_VISIT(self->tlb);
    Py_VISIT(self->spans);
    Py_VISIT(self->fallback);
    Py_VISIT(self->doc);
    return 0;
}

static int
translator_clear(TranslatorObject *self)
{
    Py_CLEAR(self->fallback);  /* first: a call that finds it gone does nothing */
    Py_CLEAR(self->tlb);
    Py_CLEAR(self->spans);
    Py_CLEAR(self->doc);
    return 0;
}

static void
translator_dealloc(TranslatorObject *self)
{
    PyObject_GC_UnTrack(self);
    translator_clear(self);
    PyMem_Free(self->seen);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyMemberDef translator_members[] = {
    {"__doc__", Py_T_OBJECT_EX, offsetof(TranslatorObject, doc), 0, NULL},
    {NULL},
};

static PyObject *
translator_flush(TranslatorObject *self, PyObject *Py_UNUSED(ignored))
{
    PyMem_Free(self->seen);
    self->seen = NULL;
    Py_RETURN_NONE;
}

static PyMethodDef translator_methods[] = {
    {"flush", (PyCFunction)translator_flush, METH_NOARGS,
     "Forget every translation remembered (the memory underneath changed)."},
    {NULL},
};

static PyGetSetDef translator_getset[] = {
    {"__name__", fixed_name, NULL, NULL, (void *)"translate"},
    {"__qualname__", fixed_name, NULL, NULL, (void *)"Program.translate"},
    {NULL},
};

static PyTypeObject TranslatorType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "vmintro._speedups.Translator",
    .tp_basicsize = sizeof(TranslatorObject),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC | Py_TPFLAGS_HAVE_VECTORCALL,
    .tp_doc = "Translator(cache): TranslationCache.translate without the walk: direct map, "
              "TLB and held pte tables, read from the cache (vmintro.pagewalk).",
    .tp_new = translator_new,
    .tp_init = (initproc)translator_init,
    .tp_dealloc = (destructor)translator_dealloc,
    .tp_traverse = (traverseproc)translator_traverse,
    .tp_clear = (inquiry)translator_clear,
    .tp_call = PyVectorcall_Call,
    .tp_vectorcall_offset = offsetof(TranslatorObject, vectorcall),
    .tp_members = translator_members,
    .tp_methods = translator_methods,
    .tp_getset = translator_getset,
};

/* -- helpers: ``vmalloc_to_pfn(prog, addr)`` and the struct page helpers ---------------- */

/*
 * helper(kind, python, name, doc, module): the public helper of vmintro.helpers
 * (vmalloc_to_pfn, vmalloc_to_page, virt_to_page, page_to_pfn, follow_pte) as a
 * built-in function, for the calls that need nothing but the program's Translator or
 * FollowPte and the facts vmintro.helpers.mm keeps on it (``prog._page_facts``:
 * mem_map, sizeof(struct page), max_mapnr or None, high_memory, the type and class of
 * ``struct page *``, whether the program is on the C forms, PAGE_OFFSET).  Every other
 * call (keywords, an Object for an address, a program on the Python forms or without
 * its facts yet, an address the helper refuses) goes to ``python``, the Python form,
 * which defines what the helper does.
 *
 * A built-in function (METH_FASTCALL | METH_KEYWORDS) rather than an object with a
 * vectorcall: the interpreter calls such a function's C straight from its call
 * instruction (3.11's PRECALL_BUILTIN_FAST_WITH_KEYWORDS, CALL_BUILTIN_FAST_WITH_KEYWORDS
 * later), without the generic call path, some 5 ns of a 60 ns call.  Its ``__self__``
 * is a small module of its own whose state (HelperState) is the helper's, and whose
 * ``__wrapped__`` is the Python form: a module, so that the function shows as a plain
 * function (``<built-in function NAME>``, help() without "method of").  ``doc`` is the
 * Python form's docstring behind the text signature (``NAME(prog, addr)\n--\n\n``),
 * so __doc__ and inspect.signature() read as the Python form's.
 */
enum { H_VMALLOC_TO_PFN, H_VMALLOC_TO_PAGE, H_VIRT_TO_PAGE, H_PAGE_TO_PFN, H_FOLLOW_PTE,
       H_KINDS };

/* A program's ``_page_facts`` as the fast paths use them, decoded once per tuple. */
typedef struct {
    PyObject *tuple;  /* the facts tuple these were read from (a reference), or NULL */
    unsigned long long mem_map, size, high_memory, page_offset;
    long long max_mapnr;  /* -1 where it could not be read: the Python form says why */
    PyTypeObject *cls;    /* the struct page * class and type (the tuple holds them) */
    PyObject *ctype;
} PageFacts;

typedef struct {
    PyMethodDef def;  /* the built-in function's: its name and doc are name's and doc's */
    PyObject *name, *doc;  /* str: they hold the UTF-8 def points into */
    PyObject *python;
    PageFacts facts;  /* of the program called last */
    /* The program attributes the kind reads, as the last program's __dict__ held them
     * (borrowed: that dict holds them while its version is memo_version). */
    PyObject *memo[3];
    unsigned long long memo_version;  /* 0: nothing remembered */
    PyTypeObject *memo_type;
    unsigned int memo_type_version;
    /* page_to_pfn: the class of the last page whose int() was found to be its value,
     * and that class's version then (any change to it or its bases gives it another) */
    PyTypeObject *int_type;
    unsigned int int_type_version;
    int kind;
} HelperState;

static PyObject *str_page_facts;  /* "_page_facts" */
static PyObject *str_follow_pte;  /* "follow_pte" */
static PyObject *str_page_offset; /* "page_offset" */
static PyObject *str_high_memory; /* "high_memory" */
static PyTypeObject FollowPteType;
static PyObject *followpte_helper(PyObject *const *attrs, PyObject *pgd, PyObject *addr);
static PyObject *str_translate;   /* "translate" */
static PyObject *str_dunder_int;  /* "__int__" */

/* ``prog.name`` where it is an entry of the instance's own dict (borrowed), else NULL
 * with no exception: what the fast paths read, as attribute lookup finds it when the
 * class defines no data descriptor of that name (Program defines none). */
static PyObject *
instance_attr(PyObject *prog, PyObject *name)
{
    PyObject **dictptr = _PyObject_GetDictPtr(prog);
    if (dictptr == NULL || *dictptr == NULL || !PyDict_CheckExact(*dictptr))
        return NULL;
    PyObject *descr = _PyType_Lookup(Py_TYPE(prog), name);
    if (descr != NULL && Py_TYPE(descr)->tp_descr_set != NULL)
        return NULL;  /* a data descriptor comes before the dict: Python decides */
    PyObject *value = PyDict_GetItemWithError(*dictptr, name);
    if (value == NULL)
        PyErr_Clear();
    return value;
}

/*
 * ``prog.NAME`` for each of ``names`` (as instance_attr finds them) into ``out``: 1, or 0
 * with no exception when one is not there.  Where CPython versions each dict's contents
 * (before 3.12) the answers are remembered with the version of the program's __dict__ and
 * of its class, and given again while neither changed: no lookups.
 */
static ALWAYS_INLINE int
memo_attrs(HelperState *self, PyObject *prog, PyObject *const *names, int n, PyObject **out)
{
#if PY_VERSION_HEX < 0x030C0000
    PyTypeObject *tp = Py_TYPE(prog);
    PyObject **dictptr = _PyObject_GetDictPtr(prog);
    PyDictObject *dict = dictptr != NULL && *dictptr != NULL && PyDict_CheckExact(*dictptr)
                             ? (PyDictObject *)*dictptr
                             : NULL;
    if (dict != NULL && self->memo_version != 0 && dict->ma_version_tag == self->memo_version
        && tp == self->memo_type && tp->tp_version_tag == self->memo_type_version
        && (tp->tp_flags & Py_TPFLAGS_VALID_VERSION_TAG)) {
        for (int i = 0; i < n; i++)
            out[i] = self->memo[i];
        return 1;
    }
#endif
    for (int i = 0; i < n; i++) {
        out[i] = instance_attr(prog, names[i]);
        if (out[i] == NULL)
            return 0;
    }
#if PY_VERSION_HEX < 0x030C0000
    self->memo_version = 0;
    if (dict != NULL && (tp->tp_flags & Py_TPFLAGS_VALID_VERSION_TAG)) {
        for (int i = 0; i < n; i++)
            self->memo[i] = out[i];
        self->memo_version = dict->ma_version_tag;
        self->memo_type = tp;
        self->memo_type_version = tp->tp_version_tag;
    }
#endif
    return 1;
}

/* An unsigned 32-bit value of a facts item, or -1 with no exception when it is not one. */
static long long
fact_u32(PyObject *facts, Py_ssize_t i)
{
    PyObject *v = PyTuple_GET_ITEM(facts, i);
    if (!PyLong_CheckExact(v))
        return -1;
    long long x = AS_LL(v);
    if (x == -1 && PyErr_Occurred()) {
        PyErr_Clear();
        return -1;
    }
    return (x < 0 || x > 0xFFFFFFFFLL) ? -1 : x;
}

/*
 * ``facts`` (a program's _page_facts) decoded into ``cache`` (which keeps the tuple, so a
 * tuple seen before is not decoded again), when the program is on the C forms and they
 * are well formed: ``cache``, else NULL with no exception (the Python form decides).
 * The tuple it held before goes to ``*dropped`` (or NULL) for the caller to release once
 * it has taken what it needs of ``cache``: releasing it may run Python (its items'
 * finalizers), which may call a helper again and decode another program's facts.
 */
static const PageFacts *
page_facts(PyObject *facts, PageFacts *cache, PyObject **dropped)
{
    *dropped = NULL;
    if (facts == cache->tuple)
        return cache;
    if (!PyTuple_CheckExact(facts) || PyTuple_GET_SIZE(facts) != 8
        || PyTuple_GET_ITEM(facts, 6) != Py_True
        || !PyType_Check(PyTuple_GET_ITEM(facts, 5)) || object_base == NULL
        || !PyType_IsSubtype((PyTypeObject *)PyTuple_GET_ITEM(facts, 5), object_base))
        return NULL;
    long long mem_map = fact_u32(facts, 0), size = fact_u32(facts, 1);
    long long high_memory = fact_u32(facts, 3), page_offset = fact_u32(facts, 7);
    if (mem_map < 0 || size <= 0 || high_memory < 0 || page_offset < 0)
        return NULL;
    *dropped = cache->tuple;
    cache->tuple = Py_NewRef(facts);
    cache->mem_map = (unsigned long long)mem_map;
    cache->size = (unsigned long long)size;
    cache->high_memory = (unsigned long long)high_memory;
    cache->page_offset = (unsigned long long)page_offset;
    cache->max_mapnr = fact_u32(facts, 2);
    cache->cls = (PyTypeObject *)PyTuple_GET_ITEM(facts, 5);
    cache->ctype = PyTuple_GET_ITEM(facts, 4);
    return cache;
}

/* ``mem_map + pfn`` as pfn_to_page makes it: a value of the facts' struct page * class. */
static PyObject *
page_object(PyObject *prog, const PageFacts *facts, unsigned long long pfn)
{
    PyObject *value = FROM_ULL((facts->mem_map + pfn * facts->size) & 0xFFFFFFFFULL);
    if (value == NULL)
        return NULL;
    /* our own references: the tuple holding them may be replaced while we allocate */
    PyTypeObject *cls = (PyTypeObject *)Py_NewRef(facts->cls);
    PyObject *ctype = Py_NewRef(facts->ctype);
    PyObject *obj = new_object(cls, prog, ctype, Py_None, value);
    Py_DECREF(ctype);
    Py_DECREF(cls);
    Py_DECREF(value);
    return obj;
}

/* The frame behind ``addr`` through ``translate``, the program's, where it is a
 * Translator: 1 with *pfn set, 0 for the Python form to decide (no Translator, a walk, a
 * fault), -1 with an exception. */
static int
helper_pfn(PyObject *translate, PyObject *addr, unsigned long long *pfn)
{
    if (!Py_IS_TYPE(translate, &TranslatorType))
        return 0;
    Py_INCREF(translate);
    unsigned long long paddr = 0;
    int rc = translator_paddr((TranslatorObject *)translate, addr, &paddr);
    Py_DECREF(translate);
    *pfn = paddr >> 12;
    return rc;
}

/* A program's facts ``tuple`` (see page_facts) copied into ``out``, holding a reference to
 * the tuple that the caller drops (Python run meanwhile may give the helper another
 * program's): 1, or 0 with no exception where the Python form decides. */
static int
helper_facts(HelperState *self, PyObject *tuple, PageFacts *out, PyObject **dropped)
{
    const PageFacts *facts = page_facts(tuple, &self->facts, dropped);
    if (facts == NULL)
        return 0;
    *out = *facts;
    Py_INCREF(out->tuple);
    return 1;
}

/* The fast path of the helper of ``kind``: a new reference, NULL with an exception, or
 * NotImplemented for the Python form to decide.  Inlined into each kind's function
 * (helper_call_kind), where ``kind`` is a constant: each runs only its own part. */
static ALWAYS_INLINE PyObject *
helper_fast(HelperState *self, PyObject *const *args, Py_ssize_t nargs, const int kind)
{
    PageFacts facts;
    PyObject *attrs[3];
    if (kind == H_FOLLOW_PTE) {
        PyObject *names[] = {str_follow_pte, str_page_offset, str_high_memory};
        if (nargs != 3 || !memo_attrs(self, args[0], names, 3, attrs))
            Py_RETURN_NOTIMPLEMENTED;
        return followpte_helper(attrs, args[1], args[2]);
    }
    if (kind == H_PAGE_TO_PFN) {
        if (nargs != 1 || object_base == NULL)
            Py_RETURN_NOTIMPLEMENTED;
        PyObject *page = args[0];
        PyTypeObject *tp = Py_TYPE(page);
        if (tp != self->int_type || tp->tp_version_tag != self->int_type_version
            || !(tp->tp_flags & Py_TPFLAGS_VALID_VERSION_TAG)) {
            /* int(page) is its value unless a class of the caller's changed __int__ */
            if (!PyType_IsSubtype(tp, object_base)
                || _PyType_Lookup(tp, str_dunder_int) != _PyType_Lookup(object_base, str_dunder_int))
                Py_RETURN_NOTIMPLEMENTED;
            self->int_type = NULL;
            if (tp->tp_flags & Py_TPFLAGS_VALID_VERSION_TAG) {  /* the lookup gave it one */
                self->int_type = tp;
                self->int_type_version = tp->tp_version_tag;
            }
        }
        PyObject *value = SLOT(page, off_value), *prog = SLOT(page, off_prog);
        unsigned long long u;
        if (value == NULL || prog == NULL || !PyLong_CheckExact(value) || !u64_of(value, &u))
            Py_RETURN_NOTIMPLEMENTED;  /* negative: the Python form's arithmetic */
        long long v = (long long)u;
        /* only numbers are read from the facts, before the tuple let go runs any Python */
        PyObject *dropped = NULL;
        const PageFacts *f = !memo_attrs(self, prog, &str_page_facts, 1, attrs) ? NULL
                             : attrs[0] == self->facts.tuple
                                 ? &self->facts
                                 : page_facts(attrs[0], &self->facts, &dropped);
        if (f == NULL || u > (1ULL << 40)) {
            Py_XDECREF(dropped);
            Py_RETURN_NOTIMPLEMENTED;
        }
        long long size = (long long)f->size, d = v - (long long)f->mem_map, q = d / size;
        if (d % size != 0 && d < 0)
            q--;  /* Python's // rounds down */
        Py_XDECREF(dropped);
        return FROM_LL(q);
    }
    if (nargs != 2 || !PyLong_CheckExact(args[1]))
        Py_RETURN_NOTIMPLEMENTED;
    PyObject *prog = args[0], *addr = args[1];
    if (kind == H_VIRT_TO_PAGE) {
        unsigned long long a;
        if (!u64_of(addr, &a))
            Py_RETURN_NOTIMPLEMENTED;
        /* page_object holds what it needs of the facts before it allocates (which may
         * run Python that calls this helper on another program), and the tuple let go
         * is released after it: no copy needed */
        PyObject *dropped = NULL, *page;
        const PageFacts *f = !memo_attrs(self, prog, &str_page_facts, 1, attrs) ? NULL
                             : attrs[0] == self->facts.tuple
                                 ? &self->facts
                                 : page_facts(attrs[0], &self->facts, &dropped);
        if (f == NULL || a < f->page_offset || a >= f->high_memory)
            page = Py_NewRef(Py_NotImplemented);  /* the Python form says why not */
        else
            page = page_object(prog, f, (a - f->page_offset) >> 12);
        Py_XDECREF(dropped);
        return page;
    }
    PyObject *names[] = {str_translate, str_page_facts};
    if (!memo_attrs(self, prog, names, kind == H_VMALLOC_TO_PAGE ? 2 : 1, attrs))
        Py_RETURN_NOTIMPLEMENTED;
    PyObject *dropped = NULL;  /* released last: it may run Python */
    if (kind == H_VMALLOC_TO_PAGE && !helper_facts(self, attrs[1], &facts, &dropped)) {
        Py_XDECREF(dropped);
        Py_RETURN_NOTIMPLEMENTED;
    }
    unsigned long long pfn;
    int rc = helper_pfn(attrs[0], addr, &pfn);
    PyObject *result;
    if (rc <= 0)
        result = rc < 0 ? NULL : Py_NewRef(Py_NotImplemented);
    else if (kind == H_VMALLOC_TO_PFN)
        result = FROM_ULL(pfn);
    else if (facts.max_mapnr < 0 || pfn >= (unsigned long long)facts.max_mapnr)
        result = Py_NewRef(Py_NotImplemented);  /* no struct page: Python says so */
    else
        result = page_object(prog, &facts, pfn);
    if (kind == H_VMALLOC_TO_PAGE)
        Py_DECREF(facts.tuple);
    Py_XDECREF(dropped);
    return result;
}

static ALWAYS_INLINE PyObject *
helper_call(PyObject *module, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames,
            const int kind)
{
    HelperState *self = (HelperState *)PyModule_GetState(module);
    if (self == NULL || self->python == NULL) {
        if (self != NULL || !PyErr_Occurred())
            PyErr_SetString(PyExc_RuntimeError, "the helper's state was cleared");
        return NULL;
    }
    if (kwnames == NULL || PyTuple_GET_SIZE(kwnames) == 0) {
        PyObject *result = helper_fast(self, args, nargs, kind);
        if (result != Py_NotImplemented)
            return result;
        Py_DECREF(result);
    }
    PyObject *python = Py_NewRef(self->python);
    PyObject *result = PyObject_Vectorcall(python, args, (size_t)nargs, kwnames);
    Py_DECREF(python);
    return result;
}

/* The built-in function of each kind (its PyMethodDef's ml_meth). */
#define HELPER_KIND(name, kind)                                                              \
    static PyObject *name(PyObject *module, PyObject *const *args, Py_ssize_t nargs,         \
                          PyObject *kwnames)                                                 \
    {                                                                                        \
        return helper_call(module, args, nargs, kwnames, kind);                              \
    }
HELPER_KIND(helper_vmalloc_to_pfn, H_VMALLOC_TO_PFN)
HELPER_KIND(helper_vmalloc_to_page, H_VMALLOC_TO_PAGE)
HELPER_KIND(helper_virt_to_page, H_VIRT_TO_PAGE)
HELPER_KIND(helper_page_to_pfn, H_PAGE_TO_PFN)
HELPER_KIND(helper_follow_pte, H_FOLLOW_PTE)
static PyObject *(*const helper_kinds[H_KINDS])(PyObject *, PyObject *const *, Py_ssize_t,
                                                 PyObject *) = {
    [H_VMALLOC_TO_PFN] = helper_vmalloc_to_pfn,
    [H_VMALLOC_TO_PAGE] = helper_vmalloc_to_page,
    [H_VIRT_TO_PAGE] = helper_virt_to_page,
    [H_PAGE_TO_PFN] = helper_page_to_pfn,
    [H_FOLLOW_PTE] = helper_follow_pte,
};

static int
helper_traverse(PyObject *module, visitproc visit, void *arg)
{
    HelperState *self = (HelperState *)PyModule_GetState(module);
    if (self != NULL) {
        Py_VISIT(self->python);
        Py_VISIT(self->facts.tuple);
    }
    return 0;
}

/* What may hold a cycle; name and doc stay while the function (which points into them)
 * does: until the module is freed. */
static int
helper_clear(PyObject *module)
{
    HelperState *self = (HelperState *)PyModule_GetState(module);
    if (self != NULL) {
        self->memo_version = 0;
        Py_CLEAR(self->python);
        Py_CLEAR(self->facts.tuple);
    }
    return 0;
}

static void
helper_free(void *module)
{
    helper_clear((PyObject *)module);
    HelperState *self = (HelperState *)PyModule_GetState((PyObject *)module);
    if (self != NULL) {
        Py_CLEAR(self->name);
        Py_CLEAR(self->doc);
    }
    else
        PyErr_Clear();
}

static struct PyModuleDef helper_module_def = {
    PyModuleDef_HEAD_INIT,
    .m_name = "vmintro._speedups.helper",
    .m_doc = "The state of one helper of vmintro.helpers in C; __wrapped__ is its Python form.",
    .m_size = sizeof(HelperState),
    .m_traverse = helper_traverse,
    .m_clear = helper_clear,
    .m_free = helper_free,
};

static PyObject *
make_helper(PyObject *Py_UNUSED(m), PyObject *args)
{
    int kind;
    PyObject *python, *name, *doc, *module_name;
    if (!PyArg_ParseTuple(args, "iOUUU:helper", &kind, &python, &name, &doc, &module_name))
        return NULL;
    if (kind < 0 || kind >= H_KINDS || !PyCallable_Check(python)) {
        PyErr_SetString(PyExc_ValueError,
                        "helper(kind, python, name, doc, module): a known kind and a callable");
        return NULL;
    }
    const char *name_utf8 = PyUnicode_AsUTF8(name), *doc_utf8 = PyUnicode_AsUTF8(doc);
    if (name_utf8 == NULL || doc_utf8 == NULL)
        return NULL;
    PyObject *module = PyModule_Create(&helper_module_def);
    if (module == NULL)
        return NULL;
    HelperState *self = (HelperState *)PyModule_GetState(module);
    if (self == NULL || PyModule_AddObjectRef(module, "__wrapped__", python) < 0) {
        Py_DECREF(module);
        return NULL;
    }
    self->kind = kind;
    self->python = Py_NewRef(python);
    self->name = Py_NewRef(name);
    self->doc = Py_NewRef(doc);
    self->def.ml_name = name_utf8;
    self->def.ml_meth = (PyCFunction)(void (*)(void))helper_kinds[kind];
    self->def.ml_flags = METH_FASTCALL | METH_KEYWORDS;
    self->def.ml_doc = doc_utf8;
    PyObject *function = PyCFunction_NewEx(&self->def, module, module_name);
    Py_DECREF(module);  /* the function holds it */
    return function;
}

/* -- follow_pte: ``PageWalker.walk(vaddr, pgd=None)`` ------------------------------------ */

/*
 * FollowPte(walker, walk_class): PageWalker.walk (vmintro.pagewalk) for the walks
 * that read only tables the walker already holds decoded (``walker._cache``) and
 * end in a present entry: it makes the Walk as the Python form does (the entries
 * read kept in ``_trail``, the steps made when asked for).  Every other call (a
 * table to read, a fault, an argument it does not take) goes to the Python form,
 * ``walker.walk`` of the class, which defines what a walk is.  Reads, once, the
 * walker's ``_cache``, ``_plan``, ``_phys_mask``, ``_in_page``, ``entry_size``,
 * ``pgd``, ``levels`` and ``lowmem_size``.
 */
#define FP_LEVELS 4
#define FP_TABLES 64         /* a power of two */
#define FP_TABLE_BYTES 4096  /* the largest table: a page of entries */

struct fp_table {
    unsigned long long key_plus1;  /* base * 4 + level, plus one; 0 for an empty slot */
    Py_ssize_t len;
    unsigned char data[FP_TABLE_BYTES];
};

/*
 * WalkFields: the fields of a pagewalk.Walk (its base class where the C forms were built;
 * the Python forms have a class of slots of the same names).  Each field holds an object,
 * as a slot does, except that FollowPte leaves ``paddr`` and ``_trail`` as C numbers,
 * made into an int and a tuple of ints the first time they are read: a walk from
 * FollowPte is one object until its caller asks for more.
 */
enum { WF_VADDR, WF_PGD, WF_ENTRY_SIZE, WF_PADDR, WF_PAGE_SIZE, WF_FAULT, WF_TRAIL,
       WF_LEVELS, WF_LOWMEM, WF_FIELDS };
static const char *walk_field_names[WF_FIELDS] = {
    "vaddr", "pgd", "entry_size", "paddr", "page_size", "fault", "_trail", "_levels",
    "_lowmem_size"};

typedef struct {
    PyObject_HEAD
    PyObject *field[WF_FIELDS];  /* NULL: unset, or not made yet (its bit in ``unmade``) */
    unsigned long long paddr;    /* paddr not made yet */
    unsigned long long trail[2 * FP_LEVELS];  /* _trail not made yet: ntrail numbers */
    unsigned int unmade;         /* bit i: field i is still the C number(s) above */
    int ntrail;
} WalkFieldsObject;

static PyObject *
walkfields_get(WalkFieldsObject *self, void *closure)
{
    int i = (int)(intptr_t)closure;
    if (self->field[i] == NULL && (self->unmade >> i & 1)) {
        PyObject *value;
        if (i == WF_TRAIL) {
            value = PyTuple_New(self->ntrail);
            for (int j = 0; value != NULL && j < self->ntrail; j++) {
                PyObject *n = FROM_ULL(self->trail[j]);
                if (n == NULL)
                    Py_CLEAR(value);
                else
                    PyTuple_SET_ITEM(value, j, n);
            }
        }
        else
            value = FROM_ULL(self->paddr);
        if (value == NULL)
            return NULL;
        self->field[i] = value;
        self->unmade &= ~(1u << i);
    }
    if (self->field[i] == NULL) {  /* as an unset slot says it */
        PyErr_Format(PyExc_AttributeError, "'%.200s' object has no attribute '%s'",
                     Py_TYPE(self)->tp_name, walk_field_names[i]);
        return NULL;
    }
    return Py_NewRef(self->field[i]);
}

static int
walkfields_set(WalkFieldsObject *self, PyObject *value, void *closure)
{
    int i = (int)(intptr_t)closure;
    if (value == NULL && self->field[i] == NULL && !(self->unmade >> i & 1)) {
        PyErr_SetString(PyExc_AttributeError, walk_field_names[i]);  /* as a slot's del */
        return -1;
    }
    self->unmade &= ~(1u << i);
    Py_XINCREF(value);
    Py_XSETREF(self->field[i], value);
    return 0;
}

static int
walkfields_traverse(WalkFieldsObject *self, visitproc visit, void *arg)
{
    for (int i = 0; i < WF_FIELDS; i++)
        Py_VISIT(self->field[i]);
    return 0;
}

static int
walkfields_clear(WalkFieldsObject *self)
{
    for (int i = 0; i < WF_FIELDS; i++)
        Py_CLEAR(self->field[i]);
    self->unmade = 0;
    return 0;
}

static void
walkfields_dealloc(WalkFieldsObject *self)
{
    PyObject_GC_UnTrack(self);
    walkfields_clear(self);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

#define WF_FIELD(name, i) \
    {name, (getter)walkfields_get, (setter)walkfields_set, NULL, (void *)(intptr_t)(i)}
static PyGetSetDef walkfields_getset[] = {
    WF_FIELD("vaddr", WF_VADDR),
    WF_FIELD("pgd", WF_PGD),
    WF_FIELD("entry_size", WF_ENTRY_SIZE),
    WF_FIELD("paddr", WF_PADDR),
    WF_FIELD("page_size", WF_PAGE_SIZE),
    WF_FIELD("fault", WF_FAULT),
    WF_FIELD("_trail", WF_TRAIL),
    WF_FIELD("_levels", WF_LEVELS),
    WF_FIELD("_lowmem_size", WF_LOWMEM),
    {NULL},
};

static PyTypeObject WalkFieldsType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "vmintro._speedups.WalkFields",
    .tp_basicsize = sizeof(WalkFieldsObject),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE | Py_TPFLAGS_HAVE_GC,
    .tp_doc = "The fields of a pagewalk.Walk: paddr and _trail made when first read.",
    .tp_new = PyType_GenericNew,
    .tp_dealloc = (destructor)walkfields_dealloc,
    .tp_traverse = (traverseproc)walkfields_traverse,
    .tp_clear = (inquiry)walkfields_clear,
    .tp_getset = walkfields_getset,
};

/*
 * The walk class's objects, freed and made as the light classes' are (light_dealloc): a
 * walk is made and dropped per follow_pte call, and CPython's subtype_dealloc and
 * PyType_GenericAlloc do more than a WalkFields with one slot more (``_steps``) needs.
 * light_walk_class(cls) installs these where cls is exactly that (a heap type with
 * nothing else: no __dict__, weak references, finalizer); a subclass of it keeps
 * CPython's dealloc, which calls this one.
 */
static FreeList free_walks;  /* size: the tp_basicsize of the class made light, or 0 */

static void
light_walk_dealloc(PyObject *self)
{
    PyObject_GC_UnTrack(self);
    WalkFieldsObject *w = (WalkFieldsObject *)self;
    walkfields_clear(w);  /* every field NULL, none unmade */
    w->paddr = 0;
    w->ntrail = 0;  /* the numbers of the trail are read only below ntrail */
    Py_CLEAR(*(PyObject **)((char *)self + sizeof(WalkFieldsObject)));  /* _steps */
    light_free(self, light_walk_dealloc, &free_walks);
}

static PyObject *
light_walk_alloc(PyTypeObject *tp, Py_ssize_t nitems)
{
    return light_take(tp, nitems, &free_walks);
}

/* ``cls`` (FollowPte's walk class, its _steps slot at ``steps_offset``) made light where
 * it is exactly a WalkFields with that slot; left as it is otherwise. */
static void
light_walk_class(PyTypeObject *tp, Py_ssize_t steps_offset)
{
    if (!LIGHT_CLASSES || tp->tp_dealloc == light_walk_dealloc)
        return;
    Py_ssize_t size = (Py_ssize_t)(sizeof(WalkFieldsObject) + sizeof(PyObject *));
    if (tp->tp_base != &WalkFieldsType || steps_offset != (Py_ssize_t)sizeof(WalkFieldsObject)
        || !plain_class(tp, size))
        return;
    free_walks.size = size;
    free_walks.fresh = 1;  /* light_walk_dealloc leaves a walk's fields as zeroed ones read */
    tp->tp_dealloc = light_walk_dealloc;
    tp->tp_alloc = light_walk_alloc;
}

typedef struct {
    PyObject_HEAD
    vectorcallfunc vectorcall;
    PyObject *cache;      /* walker._cache: base * 4 + level -> array of entries */
    PyObject *fallback;   /* the Python form, bound to the walker */
    PyObject *walk_class;
    PyObject *levels, *lowmem_size, *entry_size_obj, *page_size_obj;
    Py_ssize_t steps_offset;  /* of the walk class's _steps slot */
    unsigned long long pgd, phys_mask, in_page;
    unsigned long long shift[FP_LEVELS], mask[FP_LEVELS], large_mask[FP_LEVELS],
        offset_mask[FP_LEVELS];
    int large[FP_LEVELS];
    int nlevels;
    Py_ssize_t entry_size;
    PyObject *pgd_obj;  /* pgd as an int: the Walk's pgd and first table of a walk from it */
    /* Copies of the tables the walks read, direct-mapped by (table, level); NULL until
     * the first.  Tables of a memory that does not change stay true; the cache's clear()
     * calls flush() (it is on walker.cache.on_clear), as the walker's clear_cache() does. */
    struct fp_table *tables;
} FollowPteObject;

/*
 * The table the walker holds under ``key`` (an ``array`` of unsigned entries of
 * ``entry_size`` bytes, as held_entry takes it) copied into ``t``: 1, or 0 when it holds
 * none such (or one larger than a page), -1 with an exception.
 */
static int
followpte_copy(FollowPteObject *self, unsigned long long key, struct fp_table *t)
{
    PyObject *k = FROM_ULL(key);
    if (k == NULL)
        return -1;
    PyObject *table = PyDict_GetItemWithError(self->cache, k);
    Py_XINCREF(table);
    Py_DECREF(k);
    if (table == NULL)
        return PyErr_Occurred() ? -1 : 0;
    Py_buffer view;
    if (PyObject_GetBuffer(table, &view, PyBUF_FORMAT | PyBUF_ND) < 0) {
        PyErr_Clear();
        Py_DECREF(table);
        return 0;
    }
    const char *format = view.format == NULL ? "B" : view.format;
    int rc = view.itemsize == self->entry_size && format[0] != '\0'
             && strchr("ILQ", format[0]) != NULL && format[1] == '\0'
             && view.len <= FP_TABLE_BYTES;
    if (rc) {
        memcpy(t->data, view.buf, (size_t)view.len);
        t->len = view.len;
        t->key_plus1 = key + 1;
    }
    PyBuffer_Release(&view);
    Py_DECREF(table);
    return rc;
}

/*
 * Entry ``index`` of the level-``level`` table at physical ``base``: from the copy kept,
 * or from the walker's table, copied first.  1 with *entry set, 0 when the walker holds
 * no such table (the Python form reads it), -1 with an exception.
 */
static int
followpte_entry(FollowPteObject *self, unsigned long long base, int level,
                unsigned long long index, unsigned long long *entry)
{
    unsigned long long key = base * 4 + (unsigned long long)level;
    if (self->tables == NULL) {
        self->tables = PyMem_Calloc(FP_TABLES, sizeof(struct fp_table));
        if (self->tables == NULL)  /* no room for copies: the walker's own, as before */
            return held_entry(self->cache, FROM_ULL(key), index, self->entry_size, entry);
    }
    size_t slot = (size_t)((base >> 12) ^ (base >> 5) ^ (unsigned long long)level)
                  & (FP_TABLES - 1);
    struct fp_table *t = &self->tables[slot];
    if (t->key_plus1 != key + 1) {
        t->key_plus1 = 0;  /* emptied first: a copy that fails leaves no other table's */
        int rc = followpte_copy(self, key, t);
        if (rc <= 0)
            return rc;
    }
    Py_ssize_t at = (Py_ssize_t)index * self->entry_size;
    if (at + self->entry_size > t->len)
        return 0;
    if (self->entry_size == 4) {
        uint32_t e;
        memcpy(&e, t->data + at, 4);
        *entry = e;
    }
    else {
        uint64_t e;
        memcpy(&e, t->data + at, 8);
        *entry = e;
    }
    return 1;
}

static PyObject *
followpte_flush(FollowPteObject *self, PyObject *Py_UNUSED(ignored))
{
    PyMem_Free(self->tables);
    self->tables = NULL;
    Py_RETURN_NONE;
}

/* The Walk, or NotImplemented for the Python form to make it. */
static PyObject *
followpte_fast(FollowPteObject *self, PyObject *vaddr, PyObject *pgd)
{
    if (!PyLong_CheckExact(vaddr) || (pgd != NULL && pgd != Py_None && !PyLong_CheckExact(pgd)))
        Py_RETURN_NOTIMPLEMENTED;
    unsigned long long v, base = self->pgd;
    if (!u64_of(vaddr, &v) || (pgd != NULL && pgd != Py_None && !u64_of(pgd, &base)))
        Py_RETURN_NOTIMPLEMENTED;
    if (v >> 32 || base >> 62)
        Py_RETURN_NOTIMPLEMENTED;
    unsigned long long bases[FP_LEVELS], entries[FP_LEVELS], paddr = 0;
    unsigned long long page_size = PAGE_SIZE;
    int n, read = 0;
    for (n = 0; n < self->nlevels; n++) {
        unsigned long long entry;
        int rc = followpte_entry(self, base, n, (v >> self->shift[n]) & self->mask[n], &entry);
        if (rc <= 0)
            return rc < 0 ? NULL : Py_NewRef(Py_NotImplemented);
        bases[n] = base;
        entries[n] = entry;
        read = n + 1;
        if (!(entry & 1))
            Py_RETURN_NOTIMPLEMENTED;  /* a fault: the Python form names the entry */
        if (self->large[n] && (entry & 0x80)) {
            page_size = self->offset_mask[n] + 1;
            paddr = (entry & self->large_mask[n]) | (v & self->offset_mask[n]);
            break;
        }
        base = entry & self->phys_mask;
    }
    if (n == self->nlevels)
        paddr = base | (v & self->in_page);
    PyTypeObject *cls = (PyTypeObject *)self->walk_class;
    PyObject *walk = cls->tp_alloc(cls, 0);
    if (walk == NULL)
        return NULL;
    WalkFieldsObject *w = (WalkFieldsObject *)walk;
    /* the first table is the pgd: the int given, or the walker's kept */
    PyObject *top_obj = pgd != NULL && pgd != Py_None ? pgd : self->pgd_obj;
    for (int i = 0; i < read; i++) {
        w->trail[2 * i] = bases[i];
        w->trail[2 * i + 1] = entries[i];
    }
    w->ntrail = 2 * read;
    w->paddr = paddr;
    w->unmade = 1u << WF_PADDR | 1u << WF_TRAIL;
    w->field[WF_VADDR] = Py_NewRef(vaddr);
    w->field[WF_PGD] = Py_NewRef(top_obj);
    w->field[WF_ENTRY_SIZE] = Py_NewRef(self->entry_size_obj);
    w->field[WF_PAGE_SIZE] = page_size == PAGE_SIZE ? Py_NewRef(self->page_size_obj)
                                                    : FROM_ULL(page_size);
    w->field[WF_FAULT] = Py_NewRef(Py_None);
    w->field[WF_LEVELS] = Py_NewRef(self->levels);
    w->field[WF_LOWMEM] = Py_NewRef(self->lowmem_size);
    PyObject **steps = (PyObject **)((char *)walk + self->steps_offset);
    Py_XSETREF(*steps, Py_NewRef(Py_None));
    if (w->field[WF_PAGE_SIZE] == NULL) {
        Py_DECREF(walk);
        return NULL;
    }
    return walk;
}

/*
 * follow_pte(prog, pgd, addr) of vmintro.helpers.mm, given the program's follow_pte,
 * page_offset and high_memory (``attrs``), where the first is its FollowPte and ``pgd`` a
 * direct-mapped page directory (aligned as PAE's 32-byte ones or
 * a page): its walk from ``__pa(pgd)``.  NotImplemented for the Python form to decide
 * (it says what is wrong with a pgd), NULL with an exception.
 */
static PyObject *
followpte_helper(PyObject *const *attrs, PyObject *pgd, PyObject *addr)
{
    PyObject *fp = attrs[0], *start = attrs[1], *end = attrs[2];
    if (!Py_IS_TYPE(fp, &FollowPteType) || !PyLong_CheckExact(start) || !PyLong_CheckExact(end) || !PyLong_CheckExact(pgd)
        || !PyLong_CheckExact(addr))
        Py_RETURN_NOTIMPLEMENTED;
    unsigned long long p, lo, hi;
    if (!u64_of(pgd, &p) || !u64_of(start, &lo) || !u64_of(end, &hi))
        Py_RETURN_NOTIMPLEMENTED;
    FollowPteObject *self = (FollowPteObject *)fp;
    unsigned long long align = self->entry_size == 8 ? 32 : PAGE_SIZE;
    if (p < lo || p >= hi || p % align)
        Py_RETURN_NOTIMPLEMENTED;  /* not a page directory: the Python form says so */
    /* swapper_pg_dir's walks start from the walker's own int (the Python form's would be
     * another int of the same value) */
    PyObject *table = p - lo == self->pgd && self->pgd_obj != NULL ? Py_NewRef(self->pgd_obj)
                                                                   : FROM_ULL(p - lo);
    if (table == NULL)
        return NULL;
    /* our own references: a key's __eq__ could drop the program's */
    Py_INCREF(fp);
    PyObject *cache = Py_NewRef(self->cache);
    PyObject *walk = self->fallback == NULL ? Py_NewRef(Py_NotImplemented)
                                            : followpte_fast(self, addr, table);
    Py_DECREF(cache);
    Py_DECREF(fp);
    Py_DECREF(table);
    return walk;
}

static PyObject *
followpte_call(FollowPteObject *self, PyObject *const *args, size_t nargsf, PyObject *kwnames)
{
    if (self->fallback == NULL) {
        PyErr_SetString(PyExc_RuntimeError, "FollowPte was not initialised");
        return NULL;
    }
    Py_ssize_t nargs = PyVectorcall_NARGS(nargsf);
    if ((nargs == 1 || nargs == 2) && (kwnames == NULL || PyTuple_GET_SIZE(kwnames) == 0)) {
        PyObject *cache = Py_NewRef(self->cache);  /* a key's __eq__ could drop ours */
        PyObject *result = followpte_fast(self, args[0], nargs == 2 ? args[1] : NULL);
        Py_DECREF(cache);
        if (result != Py_NotImplemented)
            return result;
        Py_DECREF(result);
    }
    PyObject *fallback = Py_NewRef(self->fallback);
    PyObject *result = PyObject_Vectorcall(fallback, args, nargsf, kwnames);
    Py_DECREF(fallback);
    return result;
}

static int
followpte_init(FollowPteObject *self, PyObject *args, PyObject *kwds)
{
    static char *kwlist[] = {"walker", "walk_class", NULL};
    PyObject *walker, *cls, *plan = NULL;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "OO!", kwlist, &walker, &PyType_Type, &cls))
        return -1;
    PyObject *cache = PyObject_GetAttrString(walker, "_cache");
    PyObject *levels = PyObject_GetAttrString(walker, "levels");
    PyObject *lowmem = PyObject_GetAttrString(walker, "lowmem_size");
    PyObject *method = PyObject_GetAttrString((PyObject *)Py_TYPE(walker), "walk");
    PyObject *fallback = method == NULL ? NULL : PyMethod_New(method, walker);
    Py_XDECREF(method);
    int ok = cache != NULL && levels != NULL && lowmem != NULL && fallback != NULL
             && PyDict_Check(cache) && PyTuple_Check(levels) && PyLong_CheckExact(lowmem);
    unsigned long long value;
    if (ok && (cache_u64(walker, "pgd", &self->pgd) < 0
               || cache_u64(walker, "_phys_mask", &self->phys_mask) < 0
               || cache_u64(walker, "_in_page", &self->in_page) < 0
               || cache_u64(walker, "entry_size", &value) < 0))
        ok = 0;
    if (ok) {
        self->entry_size = (Py_ssize_t)value;
        plan = PyObject_GetAttrString(walker, "_plan");
        ok = plan != NULL && PyTuple_Check(plan) && PyTuple_GET_SIZE(plan) >= 1
             && PyTuple_GET_SIZE(plan) <= FP_LEVELS && (value == 4 || value == 8);
    }
    for (Py_ssize_t i = 0; ok && i < PyTuple_GET_SIZE(plan); i++) {
        /* (n, shift, mask, large, large_mask, offset_mask) */
        PyObject *step = PyTuple_GET_ITEM(plan, i);
        unsigned long long f[6];
        ok = PyTuple_Check(step) && PyTuple_GET_SIZE(step) == 6;
        for (int j = 0; ok && j < 6; j++)
            ok = as_u64(PyTuple_GET_ITEM(step, j), "_plan", &f[j]) == 0;
        if (ok) {
            self->shift[i] = f[1];
            self->mask[i] = f[2];
            self->large[i] = f[3] != 0;
            self->large_mask[i] = f[4];
            self->offset_mask[i] = f[5];
        }
    }
    if (ok) {  /* a class of WalkFields with a _steps slot, all of it made by tp_alloc */
        PyObject *descr = PyObject_GetAttrString(cls, "_steps");
        ok = descr != NULL && slot_offset(descr, "_steps", &self->steps_offset) == 0
             && PyType_IsSubtype((PyTypeObject *)cls, &WalkFieldsType)
             && self->steps_offset >= (Py_ssize_t)sizeof(WalkFieldsObject)
             && self->steps_offset + (Py_ssize_t)sizeof(PyObject *)
                    <= ((PyTypeObject *)cls)->tp_basicsize;
        Py_XDECREF(descr);
    }
    if (ok) {
        light_walk_class((PyTypeObject *)cls, self->steps_offset);
        self->nlevels = (int)PyTuple_GET_SIZE(plan);
        Py_XSETREF(self->entry_size_obj, FROM_ULL(value));
        Py_XSETREF(self->page_size_obj, FROM_ULL(PAGE_SIZE));
        Py_XSETREF(self->pgd_obj, FROM_ULL(self->pgd));
        ok = self->entry_size_obj != NULL && self->page_size_obj != NULL
             && self->pgd_obj != NULL;
    }
    if (ok) {  /* the translation cache's clear() forgets the copies too */
        PyObject *tc = PyObject_GetAttrString(walker, "cache");
        PyObject *on_clear = tc == NULL ? NULL : PyObject_GetAttrString(tc, "on_clear");
        PyObject *flush = PyObject_GetAttrString((PyObject *)self, "flush");
        ok = on_clear != NULL && flush != NULL && PyList_Check(on_clear)
             && PyList_Append(on_clear, flush) == 0;
        Py_XDECREF(flush);
        Py_XDECREF(on_clear);
        Py_XDECREF(tc);
    }
    Py_XDECREF(plan);
    if (!ok) {
        PyErr_Clear();  /* whatever was missing: one error saying what is wanted */
        PyErr_SetString(PyExc_TypeError,
                        "FollowPte(walker, walk_class): a PageWalker and a slotted Walk class");
        Py_XDECREF(cache);
        Py_XDECREF(levels);
        Py_XDECREF(lowmem);
        Py_XDECREF(fallback);
        return -1;
    }
    PyMem_Free(self->tables);
    self->tables = NULL;
    Py_XSETREF(self->cache, cache);
    Py_XSETREF(self->levels, levels);
    Py_XSETREF(self->lowmem_size, lowmem);
    Py_XSETREF(self->fallback, fallback);
    Py_INCREF(cls);
    Py_XSETREF(self->walk_class, cls);
    return 0;
}

static PyObject *
followpte_new(PyTypeObject *type, PyObject *args, PyObject *kwds)
{
    FollowPteObject *self = (FollowPteObject *)PyType_GenericNew(type, args, kwds);
    if (self != NULL)
        self->vectorcall = (vectorcallfunc)followpte_call;
    return (PyObject *)self;
}

static int
followpte_traverse(FollowPteObject *self, visitproc visit, void *arg)
{
    Py_VISIT(self->cache);
    Py_VISIT(self->fallback);
    Py_VISIT(self->walk_class);
    Py_VISIT(self->levels);
    return 0;
}

static int
followpte_clear(FollowPteObject *self)
{
    Py_CLEAR(self->cache);
    Py_CLEAR(self->fallback);
    Py_CLEAR(self->walk_class);
    Py_CLEAR(self->levels);
    Py_CLEAR(self->lowmem_size);
    Py_CLEAR(self->entry_size_obj);
    Py_CLEAR(self->page_size_obj);
    Py_CLEAR(self->pgd_obj);
    return 0;
}

static void
followpte_dealloc(FollowPteObject *self)
{
    PyObject_GC_UnTrack(self);
    followpte_clear(self);
    PyMem_Free(self->tables);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyMethodDef followpte_methods[] = {
    {"flush", (PyCFunction)followpte_flush, METH_NOARGS,
     "Forget the copies of tables kept (the memory underneath changed)."},
    {NULL},
};

static PyTypeObject FollowPteType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "vmintro._speedups.FollowPte",
    .tp_basicsize = sizeof(FollowPteObject),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC | Py_TPFLAGS_HAVE_VECTORCALL,
    .tp_doc = "FollowPte(walker, walk_class): walker.walk in C for walks through the "
              "tables the walker holds; every other call goes to the Python form.",
    .tp_new = followpte_new,
    .tp_init = (initproc)followpte_init,
    .tp_dealloc = (destructor)followpte_dealloc,
    .tp_traverse = (traverseproc)followpte_traverse,
    .tp_clear = (inquiry)followpte_clear,
    .tp_call = PyVectorcall_Call,
    .tp_vectorcall_offset = offsetof(FollowPteObject, vectorcall),
    .tp_methods = followpte_methods,
};

/* -- a core's program header table (vmintro.image.reader.core) ------------------------ */

/*
 * CoreFile._check_segments and CoreFile._index on a core whose program headers pass
 * every check: the Python forms stay the definition of the checks and of their errors,
 * and this returns None for any header they would refuse (or anything unusual), so that
 * they run on it as without this function and raise their one message.
 */

/* A PT_LOAD: the fields CoreFile._index sorts by, in the order it compares them. */
typedef struct {
    uint64_t paddr, memsz, filesz, offset, index;
} CoreLoad;

#define ELF_PT_NULL 0
#define ELF_PT_LOAD 1
#define ELF_PT_NOTE 4
#define ELF_PHNUM_MAX 0xFFFFULL /* e_phnum is an Elf32_Half or Elf64_Half */

static inline uint64_t
le_u32(const unsigned char *p)
{
    return (uint64_t)p[0] | (uint64_t)p[1] << 8 | (uint64_t)p[2] << 16 | (uint64_t)p[3] << 24;
}

static inline uint64_t
le_u64(const unsigned char *p)
{
    return le_u32(p) | le_u32(p + 4) << 32;
}

#define CMP_FIELD(x, y, f)                                                                 \
    if ((x)->f != (y)->f)                                                                  \
        return (x)->f < (y)->f ? -1 : 1;

/* The order of the tuples CoreFile._index sorts: field by field. */
static int
core_load_cmp(const void *a, const void *b)
{
    const CoreLoad *x = a, *y = b;
    CMP_FIELD(x, y, paddr)
    CMP_FIELD(x, y, memsz)
    CMP_FIELD(x, y, filesz)
    CMP_FIELD(x, y, offset)
    CMP_FIELD(x, y, index)
    return 0;
}

/* An int argument as a u64; negative or too big for one becomes UINT64_MAX (refused). */
static int
u64_arg(PyObject *v, void *out)
{
    if (!PyLong_Check(v)) {
        PyErr_Format(PyExc_TypeError, "expected an int, not '%.100s'", Py_TYPE(v)->tp_name);
        return 0;
    }
    unsigned long long x;
    *(uint64_t *)out = u64_of(v, &x) ? (uint64_t)x : UINT64_MAX;
    return 1;
}

/* A new tuple of the u64s a, b and c, untracked; NULL with an exception set. */
static PyObject *
int_triple(uint64_t a, uint64_t b, uint64_t c)
{
    PyObject *t = PyTuple_New(3);
    if (t == NULL)
        return NULL;
    PyObject *x = FROM_ULL(a), *y = FROM_ULL(b), *z = FROM_ULL(c);
    if (x == NULL || y == NULL || z == NULL) {
        Py_XDECREF(x);
        Py_XDECREF(y);
        Py_XDECREF(z);
        Py_DECREF(t);
        return NULL;
    }
    PyTuple_SET_ITEM(t, 0, x);
    PyTuple_SET_ITEM(t, 1, y);
    PyTuple_SET_ITEM(t, 2, z);
    /* Ints make no cycle: the collector would untrack it at its first pass, after
       traversing it (and the rest of some 20,000 tuples, pass after pass) */
    PyObject_GC_UnTrack(t);
    return t;
}

/*
 * The PT_NOTEs and the stored PT_LOADs' tables of a core whose table, at phoff in buf,
 * passes every check; None where any check fails.  Returns (notes, segments, starts,
 * ends, deltas, loads_end): notes as (index, offset, filesz) in header order, the rest
 * as CoreFile._index builds them, and loads_end the highest physical end of a PT_LOAD
 * (0 with none), which the caller checks against the end of RAM the notes give.
 */
static PyObject *
core_tables(PyObject *module, PyObject *args)
{
    Py_buffer view;
    uint64_t phoff, phnum, file_size;
    int elf_class;
    if (!PyArg_ParseTuple(args, "y*O&O&iO&:core_tables", &view, u64_arg, &phoff, u64_arg,
                          &phnum, &elf_class, u64_arg, &file_size))
        return NULL;
    PyObject *result = NULL, *notes = NULL, *segments = NULL, *starts = NULL, *ends = NULL,
             *deltas = NULL;
    CoreLoad *loads = NULL;
    size_t nloads = 0, nstored = 0;
    int sorted = 1;
    uint64_t prev_end = 0, loads_end = 0;
    int gc_was_on = 0;
    const unsigned char *buf = view.buf;
    const uint64_t len = (uint64_t)view.len, entry = elf_class == 64 ? 56 : 32;
    /* The file as mapped is the file the Python forms checked, whole; phnum <= 0xFFFF
       keeps phnum * entry far from overflow, and phoff <= len keeps the sum in range. */
    if ((elf_class != 32 && elf_class != 64) || file_size != len || phnum == 0
        || phnum > ELF_PHNUM_MAX || phoff > len || phnum * entry > len - phoff)
        goto unusual;
    loads = PyMem_Malloc((size_t)phnum * sizeof(CoreLoad));
    notes = PyList_New(0);
    if (loads == NULL || notes == NULL) {
        if (loads == NULL)
            PyErr_NoMemory();
        goto done;
    }
    for (uint64_t i = 0; i < phnum; i++) {
        const unsigned char *h = buf + phoff + i * entry;
        uint64_t p_type = le_u32(h), offset, paddr, filesz, memsz;
        if (elf_class == 64) {
            offset = le_u64(h + 8), paddr = le_u64(h + 24);
            filesz = le_u64(h + 32), memsz = le_u64(h + 40);
        } else {
            offset = le_u32(h + 4), paddr = le_u32(h + 12);
            filesz = le_u32(h + 16), memsz = le_u32(h + 20);
        }
        if (p_type == ELF_PT_NULL)
            continue;
        /* _check_segments: the data inside the file (the sum checked without overflow) */
        if (offset > len || filesz > len - offset)
            goto unusual;
        if (p_type == ELF_PT_LOAD) {
            /* filesz <= memsz; paddr + memsz below 2**63, so that every delta
               (offset - paddr) and end is a signed 64-bit number */
            if (filesz > memsz || paddr > (uint64_t)INT64_MAX
                || memsz > (uint64_t)INT64_MAX - paddr)
                goto unusual;
            CoreLoad *l = &loads[nloads];
            *l = (CoreLoad){paddr, memsz, filesz, offset, i};
            if (nloads && core_load_cmp(l - 1, l) > 0)
                sorted = 0;
            nloads++;
        } else if (p_type == ELF_PT_NOTE) {
            PyObject *note = int_triple(i, offset, filesz);
            if (note == NULL || PyList_Append(notes, note) < 0) {
                Py_XDECREF(note);
                goto done;
            }
            Py_DECREF(note);
        }
    }
    if (!sorted)
        qsort(loads, nloads, sizeof(CoreLoad), core_load_cmp);
    /* _index: disjoint (memsz-0 segments overlap nothing); the end of RAM is the caller's */
    for (size_t k = 0; k < nloads; k++) {
        const CoreLoad *l = &loads[k];
        if (l->memsz && l->paddr < prev_end)
            goto unusual;
        if (l->memsz)
            prev_end = l->paddr + l->memsz;
        if (l->paddr + l->memsz > loads_end)
            loads_end = l->paddr + l->memsz;
        nstored += l->filesz != 0;
    }
    /* Each tuple's allocation counts towards a collection, though none is tracked: some
       20,000 would run the collector over the process's objects (at startup, all its
       imports') a dozen times, for nothing new to find among them */
    gc_was_on = PyGC_Disable();
    segments = PyList_New((Py_ssize_t)nstored);
    starts = PyList_New((Py_ssize_t)nstored);
    ends = PyList_New((Py_ssize_t)nstored);
    deltas = PyList_New((Py_ssize_t)nstored);
    if (segments == NULL || starts == NULL || ends == NULL || deltas == NULL)
        goto done;
    for (size_t k = 0, j = 0; k < nloads; k++) {
        const CoreLoad *l = &loads[k];
        if (l->filesz == 0)
            continue; /* bytes past p_filesz read as zeros: nothing stored */
        PyObject *segment = int_triple(l->paddr, l->filesz, l->offset);
        if (segment == NULL)
            goto done;
        PyList_SET_ITEM(segments, j, segment);
        /* starts[j] is segment[0], as the list comprehension over segments gives it */
        PyList_SET_ITEM(starts, j, Py_NewRef(PyTuple_GET_ITEM(segment, 0)));
        PyObject *end = FROM_ULL(l->paddr + l->filesz);
        if (end == NULL)
            goto done;
        PyList_SET_ITEM(ends, j, end);
        PyObject *delta = FROM_LL((int64_t)l->offset - (int64_t)l->paddr);
        if (delta == NULL)
            goto done;
        PyList_SET_ITEM(deltas, j, delta);
        j++;
    }
    result = Py_BuildValue("(OOOOOK)", notes, segments, starts, ends, deltas,
                           (unsigned long long)loads_end);
    goto done;
unusual:
    result = Py_NewRef(Py_None);
done:
    Py_XDECREF(notes);
    Py_XDECREF(segments);
    Py_XDECREF(starts);
    Py_XDECREF(ends);
    Py_XDECREF(deltas);
    PyMem_Free(loads);
    PyBuffer_Release(&view);
    if (gc_was_on)
        PyGC_Enable();
    return result;
}

/* -- module ---------------------------------------------------------------------------- */

static PyMethodDef module_methods[] = {
    {"bind_object", bind_object, METH_O,
     "bind_object(Object): where Object keeps prog_, type_, address_ and _value."},
    {"helper", make_helper, METH_VARARGS,
     "helper(kind, python, name, doc, module): the helper of vmintro.helpers of kind (one of "
     "VMALLOC_TO_PFN, ...) as a built-in function named name, with the docstring doc (a text "
     "signature first), of module; every call its C does not take goes to python."},
    {"core_tables", core_tables, METH_VARARGS,
     "core_tables(buffer, phoff, phnum, elf_class, file_size): a core's PT_NOTEs and "
     "stored PT_LOADs' tables as vmintro.image.reader.core.CoreFile builds them, "
     "(notes, segments, starts, ends, deltas, loads_end); None where any of its checks "
     "would fail, for its Python form to refuse the file."},
    {"light_class", light_class, METH_O,
     "light_class(cls): a class made by vmintro.object frees and reuses its objects' "
     "memory itself (four slots and the class, nothing more to undo)."},
    {NULL},
};

static struct PyModuleDef module_def = {
    PyModuleDef_HEAD_INIT,
    .m_name = "vmintro._speedups",
    .m_doc = "C forms of the reader's hot paths: member access and value_(), translation, page "
             "walks, the helpers, the vmlist walk and the core's program header table. "
             "Each Python form defines what its C form does.",
    .m_size = -1,
    .m_methods = module_methods,
};

PyMODINIT_FUNC
PyInit__speedups(void)
{
    if (PyType_Ready(&MemberType) < 0 || PyType_Ready(&ScalarType) < 0
        || PyType_Ready(&WalkType) < 0 || PyType_Ready(&TranslatorType) < 0
        || PyType_Ready(&FollowPteType) < 0
        || PyType_Ready(&WalkFieldsType) < 0)
        return NULL;
    str_page_facts = PyUnicode_InternFromString("_page_facts");
    str_follow_pte = PyUnicode_InternFromString("follow_pte");
    str_page_offset = PyUnicode_InternFromString("page_offset");
    str_high_memory = PyUnicode_InternFromString("high_memory");
    str_translate = PyUnicode_InternFromString("translate");
    str_dunder_int = PyUnicode_InternFromString("__int__");
    if (str_page_facts == NULL || str_translate == NULL || str_dunder_int == NULL)
        return NULL;
    str_int = PyUnicode_InternFromString("_int");
    str_member = PyUnicode_InternFromString("member_");
    str_read = PyUnicode_InternFromString("read");
    str_read_u32 = PyUnicode_InternFromString("read_u32");
    PyObject *struct_module = PyImport_ImportModule("struct");
    if (struct_module == NULL)
        return NULL;
    struct_error = PyObject_GetAttrString(struct_module, "error");
    Py_DECREF(struct_module);
    if (struct_error == NULL)
        return NULL;
    if (str_int == NULL || str_member == NULL || str_read == NULL || str_read_u32 == NULL)
        return NULL;
    PyObject *m = PyModule_Create(&module_def);
    if (m == NULL)
        return NULL;
    if (PyModule_AddObjectRef(m, "Member", (PyObject *)&MemberType) < 0
        || PyModule_AddObjectRef(m, "ScalarValue", (PyObject *)&ScalarType) < 0
        || PyModule_AddObjectRef(m, "NodeWalk", (PyObject *)&WalkType) < 0
        || PyModule_AddObjectRef(m, "Translator", (PyObject *)&TranslatorType) < 0
        || PyModule_AddObjectRef(m, "FollowPte", (PyObject *)&FollowPteType) < 0
        || PyModule_AddObjectRef(m, "WalkFields", (PyObject *)&WalkFieldsType) < 0
        || PyModule_AddIntConstant(m, "VMALLOC_TO_PFN", H_VMALLOC_TO_PFN) < 0
        || PyModule_AddIntConstant(m, "VMALLOC_TO_PAGE", H_VMALLOC_TO_PAGE) < 0
        || PyModule_AddIntConstant(m, "VIRT_TO_PAGE", H_VIRT_TO_PAGE) < 0
        || PyModule_AddIntConstant(m, "PAGE_TO_PFN", H_PAGE_TO_PFN) < 0
        || PyModule_AddIntConstant(m, "FOLLOW_PTE", H_FOLLOW_PTE) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
