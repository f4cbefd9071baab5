#pragma once
// Error policy (see docs/errors.md): exceptions end a run; expected per-record
// failures are data (rejected rows with a reason). Each exception type maps to
// one CLI exit code, so scripts can tell a bad flow from a failed run.

#include <stdexcept>
#include <string>

namespace synthforge {

// Bad configuration, usage or input data: the user must fix something. Exit code 2.
class UserError : public std::runtime_error {
  public:
    using std::runtime_error::runtime_error;
};

// A flow or block config that fails validation; the message names file:line:column.
class ConfigError : public UserError {
  public:
    using UserError::UserError;
};

// Input data that cannot be read as records; the message names file:line and field.
class InputError : public UserError {
  public:
    using UserError::UserError;
};

// The run could not complete (I/O failure, disk full, backend gone). Exit code 1.
class RunError : public std::runtime_error {
  public:
    using std::runtime_error::runtime_error;
};

}  // namespace synthforge
