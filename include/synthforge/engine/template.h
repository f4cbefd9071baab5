#pragma once
// Jinja templates over a record's columns, rendered by llama.cpp's Jinja engine
// (the same engine that renders chat templates). Column values are marked as
// input, so text inside a record can never act as template structure or as a
// chat control token downstream.

#include "synthforge/data/record.h"

#include <memory>
#include <stdexcept>
#include <string>

namespace synthforge {

// A record-level rendering failure (a missing column, a type error): the record
// is rejected with this message; the run goes on.
class TemplateError : public std::runtime_error {
  public:
    using std::runtime_error::runtime_error;
};

class Template {
  public:
    // Parses `source`; a syntax error throws ConfigError prefixed with `where`
    // (for example "flow.yaml:12:5: block 'make_prompt' config.template").
    static Template compile(const std::string& source, const std::string& where);

    // Renders with every top-level key of `vars` as a variable. Referencing a
    // variable that does not exist throws TemplateError naming it.
    std::string render(const Json& vars) const;

    const std::string& source() const;

    Template(Template&&) noexcept;
    Template& operator=(Template&&) noexcept;
    ~Template();

  private:
    struct Impl;
    explicit Template(std::unique_ptr<Impl> impl);
    std::unique_ptr<Impl> impl_;
};

// Block options such as `text: output` or `field: "{{ a }} {{ b }}"`: a bare identifier names a
// column (a constant template of one word would mean little), anything else is a template.
bool is_column_name(const std::string& s);
// The template that prints the column `s` names, or `s` compiled as a template.
Template compile_column_or_template(const std::string& s, const std::string& where);

}  // namespace synthforge
