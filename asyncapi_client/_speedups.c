/* The optional C builders of the hot models (see asyncapi_client/_fast_decode.py).
 *
 * A Builder is made at import from `_fast_decode._fields`' plan of one attrs class: for each
 * field its JSON key, its kind (an int, a str, a str or None, a timestamp, a timestamp or None)
 * and the slot's member descriptor. `one(obj)` and `many(items)` take parsed JSON and give the
 * instances, or the `refused` object they were made with for anything they do not take (a
 * non-dict, a missing key, another type, a timestamp outside `_rfc3339`'s grammar or its
 * ranges): the caller then asks the cattrs converter, which gives the precise error. So the
 * Builder needs no error messages of its own, and never raises for bad input.
 *
 * An instance is allocated blank by its class and its slots written at the descriptors'
 * offsets, as attrs' frozen `__init__` (one `object.__setattr__` per slot) would set them; the
 * plan holds only classes whose `__init__` does nothing else (no converter, validator,
 * default or post-init).
 *
 * Timestamps follow `_rfc3339`'s grammar exactly:
 *     YYYY-MM-DD ("T" | "t" | " ") HH:MM:SS ["." 1*DIGIT] ["Z" | "z" | ("+" | "-") HH [":"] MM]
 * ASCII digits only, a fraction rounded half up to the microsecond, no offset read as UTC.
 * The datetime constructor checks the ranges, as `_rfc3339` lets `datetime()` do.
 *
 * A Maker (at the end) does the same slot writing for the pipeline's Request and Response:
 * `_types.new_request` and `new_response` in C.
 */

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <datetime.h>
#include <structmember.h>

#define MAX_FIELDS 16

/* The kinds of field, the values of the module's constants of the same names. */
enum kind { KIND_INT, KIND_STR, KIND_OPTIONAL_STR, KIND_DATETIME, KIND_OPTIONAL_DATETIME };

typedef struct {
    PyObject *key;      /* the JSON key, an exact str */
    Py_ssize_t offset;  /* of the slot in the instance */
    int kind;
} Field;

typedef struct {
    PyObject_HEAD
    PyTypeObject *cls;
    PyObject *refused;  /* returned for anything the builder does not take */
    Py_ssize_t count;
    Field fields[MAX_FIELDS];
    PyTypeObject *source;  /* the class `adopt` copies from, or NULL */
    Py_ssize_t source_offsets[MAX_FIELDS];  /* its slot of each field, in the plan's order */
} Builder;

/* timedelta(microseconds=1), for a fraction rounded up; set once, at import. */
static PyObject *one_microsecond;

/* -- timestamps ------------------------------------------------------------------------------ */

static int
digits(const Py_UCS1 *s, Py_ssize_t n, int *out)
{
    int value = 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return 0;
        value = value * 10 + (s[i] - '0');
    }
    *out = value;
    return 1;
}

/* A new datetime; NULL with no exception set when `value` is outside the grammar, NULL with an
 * exception when a range check (or memory) failed. */
static PyObject *
read_timestamp(PyObject *value)
{
    /* A str subclass is no timestamp to the grammar; a non-ASCII string cannot match it. */
    if (!PyUnicode_CheckExact(value))
        return NULL;
#if PY_VERSION_HEX < 0x030C0000  /* from 3.12 every str is ready */
    if (PyUnicode_READY(value) < 0)
        return NULL;
#endif
    if (!PyUnicode_IS_ASCII(value))
        return NULL;
    const Py_UCS1 *s = PyUnicode_1BYTE_DATA(value);
    Py_ssize_t n = PyUnicode_GET_LENGTH(value), i = 19;
    int year, month, day, hour, minute, second, microsecond = 0, round_up = 0;
    if (n < 19 || s[4] != '-' || s[7] != '-' || (s[10] != 'T' && s[10] != 't' && s[10] != ' ')
        || s[13] != ':' || s[16] != ':' || !digits(s, 4, &year) || !digits(s + 5, 2, &month)
        || !digits(s + 8, 2, &day) || !digits(s + 11, 2, &hour) || !digits(s + 14, 2, &minute)
        || !digits(s + 17, 2, &second))
        return NULL;
    if (i < n && s[i] == '.') {
        Py_ssize_t start = ++i;
        while (i < n && s[i] >= '0' && s[i] <= '9')
            i++;
        if (i == start)
            return NULL;
        for (Py_ssize_t j = start; j < start + 6; j++)  /* the first six digits, zero-padded */
            microsecond = microsecond * 10 + (j < i ? s[j] - '0' : 0);
        round_up = i - start > 6 && s[start + 6] >= '5';
    }
    PyObject *tz = PyDateTime_TimeZone_UTC;  /* borrowed; no offset is UTC too */
    PyObject *own_tz = NULL;
    if (i < n && (s[i] == 'Z' || s[i] == 'z'))
        i++;
    else if (i < n && (s[i] == '+' || s[i] == '-')) {
        int sign = s[i] == '-' ? -1 : 1, off_hours, off_minutes;
        Py_ssize_t colon = i + 3 < n && s[i + 3] == ':';
        if (i + 5 + colon > n || !digits(s + i + 1, 2, &off_hours)
            || !digits(s + i + 3 + colon, 2, &off_minutes))
            return NULL;
        i += 5 + colon;
        if (off_hours > 23 || off_minutes > 59) {
            PyErr_SetString(PyExc_ValueError, "the offset is out of range");
            return NULL;
        }
        if (off_hours || off_minutes) {  /* -00:00 is UTC, as in _rfc3339 */
            PyObject *delta = PyDelta_FromDSU(0, sign * (off_hours * 3600 + off_minutes * 60), 0);
            if (delta == NULL)
                return NULL;
            tz = own_tz = PyTimeZone_FromOffset(delta);
            Py_DECREF(delta);
            if (tz == NULL)
                return NULL;
        }
    }
    if (i != n) {
        Py_XDECREF(own_tz);
        return NULL;
    }
    PyObject *moment = PyDateTimeAPI->DateTime_FromDateAndTime(
        year, month, day, hour, minute, second, microsecond, tz, PyDateTimeAPI->DateTimeType);
    Py_XDECREF(own_tz);
    if (moment != NULL && round_up) {  /* may carry into the second, day or year */
        PyObject *later = PyNumber_Add(moment, one_microsecond);
        Py_DECREF(moment);
        moment = later;
    }
    return moment;
}

/* -- building -------------------------------------------------------------------------------- */

/* What a builder gives for input it does not take: `refused`, once any exception it raised on
 * the way is cleared. An exception that is not an Exception (KeyboardInterrupt) goes on. */
static PyObject *
refuse(Builder *self)
{
    if (PyErr_Occurred()) {
        if (!PyErr_ExceptionMatches(PyExc_Exception))
            return NULL;
        PyErr_Clear();
    }
    Py_INCREF(self->refused);
    return self->refused;
}

/* A new instance of the class from `obj`; NULL when refused (an exception may be set). */
static PyObject *
build(Builder *self, PyObject *obj)
{
    PyObject *values[MAX_FIELDS];
    Py_ssize_t held = 0;
    if (!PyDict_CheckExact(obj))  /* another Mapping: the converter reads it */
        return NULL;
    for (; held < self->count; held++) {
        Field *field = &self->fields[held];
        PyObject *value = PyDict_GetItemWithError(obj, field->key);
        if (value == NULL)
            goto fail;
        /* Held from here on: a key's __eq__ could run code that changes the dict. */
        Py_INCREF(value);
        values[held] = value;
        switch (field->kind) {
        case KIND_INT:  /* exact: no bool, no int subclass (the converter reads those) */
            if (!PyLong_CheckExact(value))
                goto fail_held;
            break;
        case KIND_OPTIONAL_STR:
            if (value == Py_None)
                break;
            /* fall through */
        case KIND_STR:
            if (!PyUnicode_CheckExact(value))
                goto fail_held;
            break;
        case KIND_OPTIONAL_DATETIME:
            if (value == Py_None)
                break;
            /* fall through */
        default: {  /* KIND_DATETIME */
            PyObject *moment = read_timestamp(value);
            if (moment == NULL)
                goto fail_held;
            Py_SETREF(values[held], moment);
        }
        }
    }
    PyObject *instance = self->cls->tp_alloc(self->cls, 0);  /* zeroed: every slot empty */
    if (instance == NULL)
        goto fail;
    for (Py_ssize_t i = 0; i < self->count; i++)  /* the references move into the slots */
        *(PyObject **)((char *)instance + self->fields[i].offset) = values[i];
    return instance;
fail_held:
    held++;
fail:
    while (held > 0)
        Py_DECREF(values[--held]);
    return NULL;
}

static PyObject *
Builder_one(Builder *self, PyObject *obj)
{
    PyObject *instance = build(self, obj);
    return instance != NULL ? instance : refuse(self);
}

static PyObject *
Builder_many(Builder *self, PyObject *items)
{
    if (!PyList_CheckExact(items))
        return refuse(self);
    PyObject *out = PyList_New(PyList_GET_SIZE(items));
    if (out == NULL)
        return NULL;
    for (Py_ssize_t i = 0; i < PyList_GET_SIZE(out); i++) {
        /* Read the size again: a key's __eq__ could have shortened the list. */
        if (i >= PyList_GET_SIZE(items))
            goto refused;
        PyObject *item = PyList_GET_ITEM(items, i);
        Py_INCREF(item);
        PyObject *instance = build(self, item);
        Py_DECREF(item);
        if (instance == NULL)
            goto refused;
        PyList_SET_ITEM(out, i, instance);
    }
    return out;
refused:
    Py_DECREF(out);  /* the unset items are NULL, which list_dealloc skips */
    return refuse(self);
}

/* `adopt(items)`: instances of the source class (msgspec's structs of the same fields, already
 * checked by its typed decoder) copied slot by slot into new instances of the class. The values
 * are shared, not rebuilt: no key is looked up, no timestamp parsed again. */
static PyObject *
Builder_adopt(Builder *self, PyObject *items)
{
    if (self->source == NULL || !PyList_CheckExact(items))
        return refuse(self);
    Py_ssize_t size = PyList_GET_SIZE(items);
    PyObject *out = PyList_New(size);
    if (out == NULL)
        return NULL;
    for (Py_ssize_t i = 0; i < size; i++) {
        PyObject *item = PyList_GET_ITEM(items, i);
        if (Py_TYPE(item) != self->source)
            goto refused;
        for (Py_ssize_t j = 0; j < self->count; j++)
            if (*(PyObject **)((char *)item + self->source_offsets[j]) == NULL)
                goto refused;
        PyObject *instance = self->cls->tp_alloc(self->cls, 0);
        if (instance == NULL)
            goto refused;
        for (Py_ssize_t j = 0; j < self->count; j++) {
            PyObject *value = *(PyObject **)((char *)item + self->source_offsets[j]);
            Py_INCREF(value);
            *(PyObject **)((char *)instance + self->fields[j].offset) = value;
        }
        PyList_SET_ITEM(out, i, instance);
    }
    return out;
refused:
    Py_DECREF(out);  /* the unset items are NULL, which list_dealloc skips */
    return refuse(self);
}

/* The slot behind `descriptor`: an object slot of `cls` itself, inside its instances (a read or
 * write at its offset is then what the descriptor's own __get__ / __set__ does); else NULL. */
static PyMemberDef *
object_slot(PyObject *descriptor, PyTypeObject *cls)
{
    PyMemberDef *member = Py_IS_TYPE(descriptor, &PyMemberDescr_Type)
                              ? ((PyMemberDescrObject *)descriptor)->d_member
                              : NULL;
    if (member == NULL || PyDescr_TYPE(descriptor) != cls || member->type != T_OBJECT_EX
        || member->offset < (Py_ssize_t)sizeof(PyObject)
        || member->offset + (Py_ssize_t)sizeof(PyObject *) > cls->tp_basicsize)
        return NULL;
    return member;
}

/* `source` is (class, descriptors): one object slot of the class per field of the plan. */
static int
set_source(Builder *self, PyObject *source)
{
    PyTypeObject *type;
    PyObject *descriptors;
    if (!PyTuple_Check(source)) {
        PyErr_SetString(PyExc_TypeError, "source is (class, descriptors)");
        return -1;
    }
    if (!PyArg_ParseTuple(source, "O!O;source is (class, descriptors)", &PyType_Type, &type, &descriptors))
        return -1;
    PyObject *slots = PySequence_Fast(descriptors, "the source's descriptors must be a sequence");
    if (slots == NULL)
        return -1;
    int ok = PySequence_Fast_GET_SIZE(slots) == self->count;
    for (Py_ssize_t i = 0; ok && i < self->count; i++) {
        PyMemberDef *member = object_slot(PySequence_Fast_GET_ITEM(slots, i), type);
        ok = member != NULL;
        if (ok)
            self->source_offsets[i] = member->offset;
    }
    Py_DECREF(slots);
    if (!ok) {
        PyErr_SetString(PyExc_TypeError, "the source needs one slot of its class per field of the plan");
        return -1;
    }
    Py_INCREF(type);
    self->source = type;
    return 0;
}

/* -- the type -------------------------------------------------------------------------------- */

/* Builder(cls, plan, refused, source=None): `plan` a sequence of (JSON key, kind, member
 * descriptor); `source`, for `adopt`, a class and its member descriptors of the plan's fields,
 * in the plan's order. */
static PyObject *
Builder_new(PyTypeObject *type, PyObject *args, PyObject *kwargs)
{
    PyTypeObject *cls;
    PyObject *plan, *refused, *source = Py_None;
    static char *names[] = {"cls", "plan", "refused", "source", NULL};
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "O!OO|O:Builder", names, &PyType_Type, &cls, &plan,
                                     &refused, &source))
        return NULL;
    PyObject *entries = PySequence_Fast(plan, "the plan must be a sequence");
    if (entries == NULL)
        return NULL;
    Py_ssize_t count = PySequence_Fast_GET_SIZE(entries);
    if (count > MAX_FIELDS) {
        PyErr_Format(PyExc_ValueError, "at most %d fields", MAX_FIELDS);
        goto fail;
    }
    Builder *self = (Builder *)type->tp_alloc(type, 0);
    if (self == NULL)
        goto fail;
    Py_INCREF(cls);
    self->cls = cls;
    Py_INCREF(refused);
    self->refused = refused;
    for (Py_ssize_t i = 0; i < count; i++) {
        PyObject *key, *descriptor;
        int kind;
        if (!PyArg_ParseTuple(PySequence_Fast_GET_ITEM(entries, i), "UiO;a plan entry is (key, kind, descriptor)",
                              &key, &kind, &descriptor))
            goto fail_self;
        PyMemberDef *member = object_slot(descriptor, cls);
        if (member == NULL || (member->flags & READONLY)) {
            PyErr_SetString(PyExc_TypeError, "a plan entry's descriptor is not a slot of the class");
            goto fail_self;
        }
        if (!PyUnicode_CheckExact(key) || kind < KIND_INT || kind > KIND_OPTIONAL_DATETIME) {
            PyErr_SetString(PyExc_ValueError, "a plan entry's key must be a str and its kind a KIND");
            goto fail_self;
        }
        Py_INCREF(key);
        PyUnicode_InternInPlace(&key);  /* its hash is computed once */
        self->fields[i] = (Field){key, member->offset, kind};
        self->count = i + 1;
    }
    if (source != Py_None && set_source(self, source) < 0)
        goto fail_self;
    Py_DECREF(entries);
    return (PyObject *)self;
fail_self:
    Py_DECREF(self);
fail:
    Py_DECREF(entries);
    return NULL;
}

static void
Builder_dealloc(Builder *self)
{
    for (Py_ssize_t i = 0; i < self->count; i++)
        Py_DECREF(self->fields[i].key);
    Py_XDECREF(self->cls);
    Py_XDECREF(self->refused);
    Py_XDECREF(self->source);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyMethodDef Builder_methods[] = {
    {"one", (PyCFunction)Builder_one, METH_O, "The instance built from a parsed JSON object, or `refused`."},
    {"many", (PyCFunction)Builder_many, METH_O, "The instances built from a list of them, or `refused`."},
    {"adopt", (PyCFunction)Builder_adopt, METH_O,
     "Instances with the slots of a list of the source's instances, or `refused`."},
    {NULL, NULL, 0, NULL},
};

static PyTypeObject BuilderType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "asyncapi_client._speedups.Builder",
    .tp_basicsize = sizeof(Builder),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "Builder(cls, plan, refused): builds `cls` instances from parsed JSON.",
    .tp_new = Builder_new,
    .tp_dealloc = (destructor)Builder_dealloc,
    .tp_methods = Builder_methods,
};

/* -- Maker: a class's instances from their slots' values ------------------------------------ */

/* Maker(cls, descriptors): `make(*values)` gives a new instance of `cls` with one value per
 * descriptor written into its slot, as `_types.new_request` does in Python (no __init__, no
 * __setattr__). For the pipeline's Request and Response, built a few times per call. */
typedef struct {
    PyObject_HEAD
    PyTypeObject *cls;
    Py_ssize_t count;
    Py_ssize_t offsets[MAX_FIELDS];
} Maker;

static PyObject *
Maker_make(Maker *self, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != self->count) {
        PyErr_Format(PyExc_TypeError, "make() takes %zd arguments (%zd given)", self->count, nargs);
        return NULL;
    }
    PyObject *instance = self->cls->tp_alloc(self->cls, 0);  /* zeroed: every slot empty */
    if (instance == NULL)
        return NULL;
    for (Py_ssize_t i = 0; i < nargs; i++) {
        Py_INCREF(args[i]);
        *(PyObject **)((char *)instance + self->offsets[i]) = args[i];
    }
    return instance;
}

static PyObject *
Maker_new(PyTypeObject *type, PyObject *args, PyObject *kwargs)
{
    PyTypeObject *cls;
    PyObject *descriptors;
    static char *names[] = {"cls", "descriptors", NULL};
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "O!O:Maker", names, &PyType_Type, &cls, &descriptors))
        return NULL;
    PyObject *slots = PySequence_Fast(descriptors, "the descriptors must be a sequence");
    if (slots == NULL)
        return NULL;
    Py_ssize_t count = PySequence_Fast_GET_SIZE(slots);
    Maker *self = NULL;
    if (count > MAX_FIELDS) {
        PyErr_Format(PyExc_ValueError, "at most %d slots", MAX_FIELDS);
        goto done;
    }
    self = (Maker *)type->tp_alloc(type, 0);
    if (self == NULL)
        goto done;
    for (Py_ssize_t i = 0; i < count; i++) {
        /* An object slot of the class or of a base of it, inside the class's instances. */
        PyObject *descriptor = PySequence_Fast_GET_ITEM(slots, i);
        PyMemberDef *member = Py_IS_TYPE(descriptor, &PyMemberDescr_Type)
                                  ? ((PyMemberDescrObject *)descriptor)->d_member
                                  : NULL;
        if (member == NULL || !PyType_IsSubtype(cls, PyDescr_TYPE(descriptor)) || member->type != T_OBJECT_EX
            || (member->flags & READONLY) || member->offset < (Py_ssize_t)sizeof(PyObject)
            || member->offset + (Py_ssize_t)sizeof(PyObject *) > cls->tp_basicsize) {
            PyErr_SetString(PyExc_TypeError, "a descriptor is not a slot of the class");
            Py_CLEAR(self);
            goto done;
        }
        self->offsets[i] = member->offset;
    }
    self->count = count;
    Py_INCREF(cls);
    self->cls = cls;
done:
    Py_DECREF(slots);
    return (PyObject *)self;
}

static void
Maker_dealloc(Maker *self)
{
    Py_XDECREF(self->cls);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyMethodDef Maker_methods[] = {
    {"make", (PyCFunction)(void (*)(void))Maker_make, METH_FASTCALL,
     "A new instance with these values in its slots, in the descriptors' order."},
    {NULL, NULL, 0, NULL},
};

static PyTypeObject MakerType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "asyncapi_client._speedups.Maker",
    .tp_basicsize = sizeof(Maker),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "Maker(cls, descriptors): `make(*values)` gives instances of `cls` with those slots set.",
    .tp_new = Maker_new,
    .tp_dealloc = (destructor)Maker_dealloc,
    .tp_methods = Maker_methods,
};

static PyObject *
speedups_parse_datetime(PyObject *Py_UNUSED(module), PyObject *value)
{
    /* The timestamp reader alone, for the tests: a datetime, or None outside the grammar or
     * its ranges. */
    PyObject *moment = read_timestamp(value);
    if (moment != NULL)
        return moment;
    if (PyErr_Occurred()) {
        if (!PyErr_ExceptionMatches(PyExc_Exception))
            return NULL;
        PyErr_Clear();
    }
    Py_RETURN_NONE;
}

static PyObject *
speedups_any_in(PyObject *Py_UNUSED(module), PyObject *const *args, Py_ssize_t nargs)
{
    /* any_in(names, mapping): whether any of the tuple `names` is a key of `mapping`; for the
     * rate limiter, which asks it of every response's headers (most carry none of its fields). */
    if (nargs != 2 || !PyTuple_Check(args[0])) {
        PyErr_SetString(PyExc_TypeError, "any_in() takes a tuple of names and a mapping");
        return NULL;
    }
    PyObject *names = args[0], *mapping = args[1];
    int is_dict = PyDict_Check(mapping);
    for (Py_ssize_t i = 0; i < PyTuple_GET_SIZE(names); i++) {
        PyObject *name = PyTuple_GET_ITEM(names, i);
        int found = is_dict ? PyDict_Contains(mapping, name) : PySequence_Contains(mapping, name);
        if (found < 0)
            return NULL;
        if (found)
            Py_RETURN_TRUE;
    }
    Py_RETURN_FALSE;
}

static PyMethodDef module_methods[] = {
    {"any_in", (PyCFunction)(void (*)(void))speedups_any_in, METH_FASTCALL,
     "Whether any of a tuple of names is a key of a mapping."},
    {"parse_datetime", speedups_parse_datetime, METH_O,
     "An RFC 3339 timestamp (the grammar of `_rfc3339`) as an aware datetime, or None."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef speedups_module = {
    PyModuleDef_HEAD_INIT,
    .m_name = "asyncapi_client._speedups",
    .m_doc = "The C builders of the hot models; asyncapi_client._fast_decode uses them when built.",
    .m_size = -1,
    .m_methods = module_methods,
};

PyMODINIT_FUNC
PyInit__speedups(void)
{
    PyDateTime_IMPORT;
    if (PyDateTimeAPI == NULL || PyType_Ready(&BuilderType) < 0 || PyType_Ready(&MakerType) < 0)
        return NULL;
    if (one_microsecond == NULL && (one_microsecond = PyDelta_FromDSU(0, 0, 1)) == NULL)
        return NULL;
    PyObject *module = PyModule_Create(&speedups_module);
    if (module == NULL)
        return NULL;
    Py_INCREF(&BuilderType);
    if (PyModule_AddObject(module, "Builder", (PyObject *)&BuilderType) < 0) {
        Py_DECREF(&BuilderType);
        goto fail;
    }
    Py_INCREF(&MakerType);
    if (PyModule_AddObject(module, "Maker", (PyObject *)&MakerType) < 0) {
        Py_DECREF(&MakerType);
        goto fail;
    }
    if (PyModule_AddIntConstant(module, "INT", KIND_INT) < 0
        || PyModule_AddIntConstant(module, "STR", KIND_STR) < 0
        || PyModule_AddIntConstant(module, "OPTIONAL_STR", KIND_OPTIONAL_STR) < 0
        || PyModule_AddIntConstant(module, "DATETIME", KIND_DATETIME) < 0
        || PyModule_AddIntConstant(module, "OPTIONAL_DATETIME", KIND_OPTIONAL_DATETIME) < 0)
        goto fail;
    return module;
fail:
    Py_DECREF(module);
    return NULL;
}
