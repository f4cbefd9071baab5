#include "json_convert.h"

#include <cmath>

namespace py = pybind11;

namespace synthforge::python {

py::object to_python(const Json& value) {
    switch (value.type()) {
        case Json::value_t::null:
        case Json::value_t::discarded:
            return py::none();
        case Json::value_t::boolean:
            return py::bool_(value.get<bool>());
        case Json::value_t::number_integer:
            return py::int_(value.get<int64_t>());
        case Json::value_t::number_unsigned:
            return py::int_(value.get<uint64_t>());
        case Json::value_t::number_float:
            return py::float_(value.get<double>());
        case Json::value_t::string:
            return py::str(value.get_ref<const std::string&>());
        case Json::value_t::binary: {
            const auto& b = value.get_binary();
            return py::bytes(reinterpret_cast<const char*>(b.data()), b.size());
        }
        case Json::value_t::array: {
            py::list out(value.size());
            size_t i = 0;
            for (const auto& v : value) out[i++] = to_python(v);
            return out;
        }
        case Json::value_t::object: {
            py::dict out;
            for (const auto& [k, v] : value.items()) out[py::str(k)] = to_python(v);
            return out;
        }
    }
    return py::none();
}

Json from_python(py::handle value, const std::string& where) {
    if (value.is_none()) return nullptr;
    // bool before int: Python's bool is an int.
    if (PyBool_Check(value.ptr())) return value.cast<bool>();
    if (PyLong_Check(value.ptr())) {
        int overflow = 0;
        long long v = PyLong_AsLongLongAndOverflow(value.ptr(), &overflow);
        if (overflow == 0) return static_cast<int64_t>(v);
        if (overflow > 0) {
            unsigned long long u = PyLong_AsUnsignedLongLong(value.ptr());
            if (!PyErr_Occurred()) return static_cast<uint64_t>(u);
            PyErr_Clear();
        }
        throw py::type_error(where + ": integer " + py::str(value).cast<std::string>() + " does not fit in 64 bits");
    }
    if (PyFloat_Check(value.ptr())) {
        const double d = value.cast<double>();
        // JSON has no NaN: pandas writes a missing number as NaN, and a missing cell is null.
        if (std::isnan(d)) return nullptr;
        return d;
    }
    if (PyUnicode_Check(value.ptr())) return value.cast<std::string>();
    if (PyDict_Check(value.ptr())) {
        Json out = Json::object();
        for (auto [k, v] : py::reinterpret_borrow<py::dict>(value)) {
            if (!PyUnicode_Check(k.ptr()))
                throw py::type_error(where + ": keys must be strings, got " +
                                     py::str(py::type::of(k).attr("__name__")).cast<std::string>());
            std::string key = k.cast<std::string>();
            out[key] = from_python(v, where + "['" + key + "']");
        }
        return out;
    }
    if (PyList_Check(value.ptr()) || PyTuple_Check(value.ptr())) {
        Json out = Json::array();
        size_t i = 0;
        for (auto v : py::reinterpret_borrow<py::sequence>(value))
            out.push_back(from_python(v, where + "[" + std::to_string(i++) + "]"));
        return out;
    }
    // numpy scalars (numpy.int64, numpy.bool_, numpy.float32, ...) and numpy arrays, which
    // DataFrames hand out: .item() / .tolist() give the plain Python value.
    if (py::hasattr(value, "dtype")) {
        if (py::hasattr(value, "tolist")) return from_python(value.attr("tolist")(), where);
        if (py::hasattr(value, "item")) return from_python(value.attr("item")(), where);
    }
    throw py::type_error(where + ": a " + py::str(py::type::of(value).attr("__name__")).cast<std::string>() +
                         " cannot be stored in a record (use str, int, float, bool, None, list or dict)");
}

}  // namespace synthforge::python
