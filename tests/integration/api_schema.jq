# Validates a JSON value against an OpenAPI 3.0 schema (the subset
# docs/openapi.json uses: $ref, type object / array / string / integer /
# number / boolean, properties, required, items, enum, nullable), recursively.
# Properties the schema does not name are errors too: the document must
# describe every field the server sends.
# usage: jq -n --slurpfile spec docs/openapi.json --slurpfile body BODY \
#            --arg path '/devices/{id}' --arg method get --arg status 200 -f api_schema.jq
# prints an array of error strings (empty when the body conforms).
def deref($root):
    if type == "object" and has("$ref") then
        . as $x | $root | getpath($x["$ref"] | ltrimstr("#/") | split("/")) | deref($root)
    else . end;
def check($s0; $root; $p):
    ($s0 | deref($root)) as $s
    | . as $v
    | if ($v == null) and ($s.nullable == true) then []
      elif $s.type == "object" then
        if ($v | type) != "object" then ["\($p): want an object, got \($v | type)"]
        else
            [($s.required // [])[] | select(. as $r | $v | has($r) | not) | "\($p).\(.): missing (required)"]
            + [$v | keys[] | select(. as $k | ($s.properties // {}) | has($k) | not) | "\($p).\(.): not in the schema"]
            + [($s.properties // {}) | to_entries[] | . as $e | select($v | has($e.key))
               | $v[$e.key] | check($e.value; $root; "\($p).\($e.key)")[]]
        end
      elif $s.type == "array" then
        if ($v | type) != "array" then ["\($p): want an array, got \($v | type)"]
        else [range(0; $v | length) as $i | $v[$i] | check($s.items; $root; "\($p)[\($i)]")[]]
        end
      elif $s.type == "integer" then
        if ($v | type) == "number" and ($v | floor) == $v then [] else ["\($p): want an integer, got \($v | tojson)"] end
      elif $s.type == "number" then
        if ($v | type) == "number" then [] else ["\($p): want a number, got \($v | type)"] end
      elif $s.type == "boolean" then
        if ($v | type) == "boolean" then [] else ["\($p): want a boolean, got \($v | type)"] end
      elif $s.type == "string" then
        if ($v | type) != "string" then ["\($p): want a string, got \($v | type)"]
        elif ($s.enum != null) and ([$s.enum[] | select(. == $v)] | length) == 0 then ["\($p): '\($v)' not in \($s.enum)"]
        else [] end
      else ["\($p): the schema has no type"] end;
$spec[0] as $root
| ($root.paths[$path][$method].responses[$status]) as $resp
| if $resp == null then ["\($method) \($path): status \($status) is not documented"]
  elif ($resp.content["application/json"].schema) == null then ["\($method) \($path) \($status): no JSON schema"]
  else $body[0] | check($resp.content["application/json"].schema; $root; "body") end
