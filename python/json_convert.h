#pragma once
// Records cross the Python boundary as plain Python objects: a JSON object is a dict (in
// column order), an array a list, and numbers, strings, booleans and null their Python
// counterparts. Conversions need the GIL; everything after them runs without it.

#include "synthforge/data/record.h"

#include <pybind11/pybind11.h>

#include <string>

namespace synthforge::python {

pybind11::object to_python(const Json& value);

// `where` names the value in errors ("rows[3]['score']"), so a bad cell in a DataFrame of
// thousands of rows is found at once. Throws TypeError for a value JSON cannot hold.
Json from_python(pybind11::handle value, const std::string& where);

}  // namespace synthforge::python
