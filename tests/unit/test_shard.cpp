#include "synthforge/engine/shard.h"
#include "synthforge/errors.h"

#include <gtest/gtest.h>

namespace {

using namespace synthforge;

std::string error_of(const std::function<void()>& fn) {
    try {
        fn();
    } catch (const UserError& e) {
        return e.what();
    }
    return "";
}

TEST(Shard, ParsesZeroBasedIOverN) {
    ShardSpec s = parse_shard_spec("3/4");
    EXPECT_EQ(s.index, 3u);
    EXPECT_EQ(s.count, 4u);
    EXPECT_EQ(s.str(), "3/4");
    EXPECT_NE(error_of([] { parse_shard_spec("4/4"); }).find("out of range for 4 shard(s)"), std::string::npos);
    EXPECT_NE(error_of([] { parse_shard_spec("1/0"); }).find("at least 1"), std::string::npos);
    EXPECT_NE(error_of([] { parse_shard_spec("1-4"); }).find("expects I/N"), std::string::npos);
    EXPECT_NE(error_of([] { parse_shard_spec("-1/4"); }).find("expects I/N"), std::string::npos);
}

TEST(Shard, RangesCoverEveryRecordOnceInOrder) {
    for (uint64_t total : {0, 1, 3, 10, 1001}) {
        for (uint64_t n : {1, 2, 3, 4, 7, 16}) {
            uint64_t next = 0;
            for (uint64_t i = 0; i < n; ++i) {
                auto [first, last] = shard_range(total, {i, n});
                EXPECT_EQ(first, next) << total << " " << i << "/" << n;
                EXPECT_LE(last - first, total / n + 1);
                next = last;
            }
            EXPECT_EQ(next, total);
        }
    }
}

TEST(Shard, AutoReadsSlurmArraysFromTheirMinimum) {
    ShardSpec s =
        shard_from_env({{"SLURM_ARRAY_TASK_ID", "5"}, {"SLURM_ARRAY_TASK_COUNT", "4"}, {"SLURM_ARRAY_TASK_MIN", "3"}});
    EXPECT_EQ(s.str(), "2/4");
    EXPECT_EQ(shard_from_env({{"SLURM_ARRAY_TASK_ID", "0"}, {"SLURM_ARRAY_TASK_COUNT", "2"}}).str(), "0/2");
    EXPECT_NE(error_of([] {
                  shard_from_env({{"SLURM_ARRAY_TASK_ID", "1"}});
              }).find("SLURM_ARRAY_TASK_COUNT is not"),
              std::string::npos);
    // A stepped array (--array=0-6:2) has IDs beyond COUNT: refused, not silently overlapping.
    EXPECT_NE(error_of([] {
                  shard_from_env({{"SLURM_ARRAY_TASK_ID", "6"}, {"SLURM_ARRAY_TASK_COUNT", "4"}});
              }).find("contiguous --array=0-3"),
              std::string::npos);
}

TEST(Shard, AutoReadsKubernetesIndexedJobs) {
    EXPECT_EQ(shard_from_env({{"JOB_COMPLETION_INDEX", "1"}, {"SYNTHFORGE_SHARD_COUNT", "3"}}).str(), "1/3");
    EXPECT_NE(error_of([] {
                  shard_from_env({{"JOB_COMPLETION_INDEX", "1"}});
              }).find("SYNTHFORGE_SHARD_COUNT is not"),
              std::string::npos);
    EXPECT_NE(error_of([] {
                  shard_from_env({{"JOB_COMPLETION_INDEX", "x"}, {"SYNTHFORGE_SHARD_COUNT", "3"}});
              }).find("JOB_COMPLETION_INDEX must be a non-negative integer"),
              std::string::npos);
    EXPECT_NE(error_of([] { shard_from_env({}); }).find("no scheduler shard found"), std::string::npos);
}

}  // namespace
