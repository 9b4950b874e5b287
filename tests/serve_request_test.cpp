// Parsing of OpenAI request bodies: values, defaults, and errors that name the field.
#include <gtest/gtest.h>

#include "sllm/serve/request.h"

using sllm::serve::ApiError;
using sllm::serve::parse_generation_request;
using sllm::serve::RequestLimits;

namespace {

std::string error_param(const std::string& body, bool chat = false) {
  try {
    parse_generation_request(body, chat, RequestLimits{});
  } catch (const ApiError& e) {
    EXPECT_EQ(e.status, 400);
    return e.param;
  }
  return "(accepted)";
}

}  // namespace

TEST(ServeRequest, ParsesEverySamplingParameter) {
  auto r = parse_generation_request(
      R"({"model":"m","messages":[{"role":"system","content":"s"},{"role":"user","content":[{"type":"text","text":"a"},{"type":"text","text":"b"}]}],
          "temperature":0.5,"top_p":0.9,"top_k":40,"min_p":0.05,"repetition_penalty":1.1,"presence_penalty":0.5,
          "frequency_penalty":-0.5,"seed":42,"logit_bias":{"13":-100,"7":2.5},"max_tokens":20,"stop":["\n","END"],
          "stream":true,"stream_options":{"include_usage":true},"response_format":{"type":"json_object"},"user":"u"})",
      true, RequestLimits{});
  EXPECT_TRUE(r.chat);
  ASSERT_EQ(r.messages.size(), 2u);
  EXPECT_EQ(r.messages[1].content, "ab");
  EXPECT_FLOAT_EQ(r.sampling.temperature, 0.5f);
  EXPECT_FLOAT_EQ(r.sampling.top_p, 0.9f);
  EXPECT_EQ(r.sampling.top_k, 40);
  EXPECT_FLOAT_EQ(r.sampling.min_p, 0.05f);
  EXPECT_FLOAT_EQ(r.sampling.repetition_penalty, 1.1f);
  EXPECT_FLOAT_EQ(r.sampling.presence_penalty, 0.5f);
  EXPECT_FLOAT_EQ(r.sampling.frequency_penalty, -0.5f);
  EXPECT_EQ(r.sampling.seed, 42u);
  ASSERT_EQ(r.sampling.logit_bias.size(), 2u);
  EXPECT_TRUE(r.json_mode);
  EXPECT_EQ(r.max_tokens, 20);
  EXPECT_EQ(r.stop, (std::vector<std::string>{"\n", "END"}));
  EXPECT_TRUE(r.stream);
  EXPECT_TRUE(r.include_usage);
}

TEST(ServeRequest, DefaultsAndNulls) {
  auto r = parse_generation_request(R"({"model":"m","prompt":"hi","temperature":null,"stop":null})",
                                    false, RequestLimits{});
  ASSERT_EQ(r.prompts.size(), 1u);
  EXPECT_EQ(r.prompts[0].text, "hi");
  EXPECT_FLOAT_EQ(r.sampling.temperature, 1.0f);
  EXPECT_EQ(r.max_tokens, RequestLimits{}.default_max_tokens);
  EXPECT_FALSE(r.stream);
  auto t = parse_generation_request(R"({"model":"m","prompt":[1,2,3],"max_completion_tokens":7})",
                                    false, RequestLimits{});
  EXPECT_EQ(t.prompts.at(0).tokens, (std::vector<int32_t>{1, 2, 3}));
  EXPECT_EQ(t.max_tokens, 7);
}

TEST(ServeRequest, ErrorsNameTheField) {
  EXPECT_EQ(error_param("{"), "body");
  EXPECT_EQ(error_param("[1]"), "body");
  EXPECT_EQ(error_param(R"({"model":"m","prompt":"x","temperature":3e500})"),
            "body");  // Found by the fuzzer.
  EXPECT_EQ(error_param(R"({"prompt":"x"})"), "model");
  EXPECT_EQ(error_param(R"({"model":3,"prompt":"x"})"), "model");
  EXPECT_EQ(error_param(R"({"model":"m"})"), "prompt");
  EXPECT_EQ(error_param(R"({"model":"m","prompt":"x","temperature":"1"})"), "temperature");
  EXPECT_EQ(error_param(R"({"model":"m","prompt":"x","temperature":3})"), "temperature");
  EXPECT_EQ(error_param(R"({"model":"m","prompt":"x","max_tokens":1.5})"), "max_tokens");
  EXPECT_EQ(error_param(R"({"model":"m","prompt":"x","max_tokens":0})"), "max_tokens");
  EXPECT_EQ(error_param(R"({"model":"m","prompt":"x","top_k":"a"})"), "top_k");
  EXPECT_EQ(error_param(R"({"model":"m","prompt":"x","seed":1e300})"), "seed");
  EXPECT_EQ(error_param(R"({"model":"m","prompt":"x","stop":[1]})"), "stop[0]");
  EXPECT_EQ(error_param(R"({"model":"m","prompt":"x","stream":"yes"})"), "stream");
  EXPECT_EQ(error_param(R"({"model":"m","prompt":"x","stream_options":{"include_usage":true}})"),
            "stream_options");
  EXPECT_EQ(error_param(R"({"model":"m","prompt":"x","logit_bias":{"a":1}})"), "logit_bias.a");
  EXPECT_EQ(error_param(R"({"model":"m","prompt":"x","logit_bias":{"5":"1"}})"), "logit_bias.5");
  EXPECT_EQ(error_param(R"({"model":"m","prompt":"x","response_format":{"type":"xml"}})"),
            "response_format.type");
  EXPECT_EQ(error_param(R"({"model":"m","prompt":"x","n":17})"), "n");
  EXPECT_EQ(error_param(R"({"model":"m","prompt":[1,-2]})"), "prompt[1]");
  EXPECT_EQ(error_param(R"({"model":"m","messages":[]})", true), "messages");
  EXPECT_EQ(error_param(R"({"model":"m","messages":{}})", true), "messages");
  EXPECT_EQ(error_param(R"({"model":"m","messages":[{"role":"bot","content":"x"}]})", true),
            "messages[0].role");
  EXPECT_EQ(error_param(R"({"model":"m","messages":[{"role":"user"}]})", true),
            "messages[0].content");
  EXPECT_EQ(
      error_param(R"({"model":"m","messages":[{"role":"user","content":[{"type":"image_url"}]}]})",
                  true),
      "messages[0].content[0].type");
}

TEST(ServeRequest, Issue24Fields) {
  // Unknown fields are refused by name, on the body and inside it.
  EXPECT_EQ(error_param(R"({"model":"m","prompt":"x","suffix":"y"})"), "suffix");
  EXPECT_EQ(
      error_param(R"({"model":"m","messages":[{"role":"user","content":"x"}],"echo":true})", true),
      "echo");
  EXPECT_EQ(
      error_param(
          R"({"model":"m","prompt":"x","response_format":{"type":"json_object","schema":{}}})"),
      "response_format.schema");
  EXPECT_EQ(error_param(R"({"model":"m","prompt":"x","stream":true,"stream_options":{"x":1}})"),
            "stream_options.x");
  EXPECT_EQ(
      error_param(R"({"model":"m","messages":[{"role":"user","content":"x","audio":1}]})", true),
      "messages[0].audio");
  // Logprobs, echo with max_tokens 0, several prompts, n, five stop strings, user.
  auto c = parse_generation_request(
      R"({"model":"m","prompt":["a",[1,2]],"echo":true,"max_tokens":0,"logprobs":3,"n":2,"stop":["a","b","c","d","e"],"user":"u"})",
      false, RequestLimits{});
  ASSERT_EQ(c.prompts.size(), 2u);
  EXPECT_EQ(c.prompts[1].tokens, (std::vector<int32_t>{1, 2}));
  EXPECT_EQ(c.logprobs, 3);
  EXPECT_EQ(c.max_tokens, 0);
  EXPECT_EQ(c.n, 2);
  EXPECT_EQ(c.stop.size(), 5u);
  EXPECT_EQ(error_param(R"({"model":"m","prompt":"x","max_tokens":0})"), "max_tokens");
  EXPECT_EQ(
      error_param(R"({"model":"m","messages":[{"role":"user","content":"x"}],"top_logprobs":2})",
                  true),
      "top_logprobs");
  auto chat = parse_generation_request(
      R"({"model":"m","messages":[{"role":"user","content":"x"},{"role":"assistant","content":null,"tool_calls":[{"id":"c1","type":"function","function":{"name":"f","arguments":"{\"a\":1}"}}]},{"role":"tool","tool_call_id":"c1","content":"2"}],
          "tools":[{"type":"function","function":{"name":"f","parameters":{"type":"object"}}}],"tool_choice":{"type":"function","function":{"name":"f"}},"logprobs":true,"top_logprobs":4})",
      true, RequestLimits{});
  EXPECT_EQ(chat.tool_choice, "function");
  EXPECT_EQ(chat.tool_name, "f");
  EXPECT_EQ(chat.logprobs, 4);
  EXPECT_EQ(chat.messages[1].extra["tool_calls"][0]["function"]["arguments"]["a"], 1);
  EXPECT_EQ(chat.messages[2].extra["tool_call_id"], "c1");
  EXPECT_EQ(
      error_param(
          R"({"model":"m","messages":[{"role":"user","content":"x"}],"tools":[{"type":"function","function":{"name":"f"}}],"tool_choice":{"type":"function","function":{"name":"g"}}})",
          true),
      "tool_choice.function.name");
  EXPECT_EQ(
      error_param(
          R"({"model":"m","prompt":"x","grammar":"root ::= \"a\"","response_format":{"type":"json_object"}})"),
      "grammar");
}

TEST(ServeRequest, EmbeddingAndTokenizeBodies) {
  auto e = sllm::serve::parse_embedding_request(
      R"({"model":"m","input":["a","b"],"encoding_format":"base64"})", RequestLimits{});
  EXPECT_EQ(e.texts.size(), 2u);
  EXPECT_TRUE(e.base64);
  auto t =
      sllm::serve::parse_embedding_request(R"({"model":"m","input":[[1,2],[3]]})", RequestLimits{});
  EXPECT_EQ(t.token_inputs.size(), 2u);
  EXPECT_THROW(
      sllm::serve::parse_embedding_request(R"({"model":"m","input":[{}]})", RequestLimits{}),
      ApiError);
  EXPECT_THROW(sllm::serve::parse_detokenize_request(R"({"model":"m","tokens":"x"})"), ApiError);
  EXPECT_EQ(sllm::serve::parse_tokenize_request(R"({"model":"m","prompt":"x"})").text, "x");
}
