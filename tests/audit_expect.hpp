// has_problem: the gtest predicate every audit() corruption test uses to find its message.
#pragma once

#include <gtest/gtest.h>

#include <string>
#include <vector>

// Passes when one of `problems` contains `expected`; otherwise says what the audit reported.
inline ::testing::AssertionResult has_problem(const std::vector<std::string>& problems,
                                              const std::string& expected) {
  for (const std::string& problem : problems) {
    if (problem.find(expected) != std::string::npos) return ::testing::AssertionSuccess();
  }
  return ::testing::AssertionFailure() << "expected a problem containing '" << expected << "', got "
                                       << (problems.empty() ? std::string("none") : problems[0])
                                       << " (" << problems.size() << " problems)";
}
